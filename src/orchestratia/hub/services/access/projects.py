"""Projects, memberships and the access check every project-scoped route goes through."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Membership, Project, Tenant, User
from orchestratia.hub.errors import Conflict, Forbidden, NotFound
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.plans import ensure_room

WRITE_ROLES = {"owner", "member"}


@dataclass(frozen=True)
class ProjectAccess:
    project: Project
    role: str

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES


async def access(
    db: AsyncSession, principal: Principal, project_id: str, *, write: bool = False
) -> ProjectAccess:
    """The caller's role on a project of their tenant.

    NotFound (never Forbidden) for other tenants' or unshared projects, so ids leak nothing;
    Forbidden for a viewer attempting a write. A project-restricted API key finds no other
    project.
    """
    if principal.project_restriction not in (None, project_id):
        raise NotFound("project not found")
    project = await db.scalar(
        select(Project).where(Project.id == project_id, Project.tenant_id == principal.tenant_id)
    )
    if project is None:
        raise NotFound("project not found")
    if principal.is_tenant_admin:
        role = "owner"
    else:
        found = await db.scalar(
            select(Membership.role).where(
                Membership.project_id == project.id,
                Membership.user_id == principal.user_id,
                Membership.tenant_id == principal.tenant_id,
            )
        )
        if found is None:
            raise NotFound("project not found")
        role = found
    result = ProjectAccess(project, role)
    if write and not result.can_write:
        raise Forbidden(f"your role on this project is {role}; it is read-only")
    return result


async def list_for(db: AsyncSession, principal: Principal) -> list[ProjectAccess]:
    """Every project the caller reaches (only its own, for a project-restricted API key)."""
    only = principal.project_restriction
    if principal.is_tenant_admin:
        query = select(Project).where(Project.tenant_id == principal.tenant_id)
        if only is not None:
            query = query.where(Project.id == only)
        return [ProjectAccess(p, "owner") for p in await db.scalars(query.order_by(Project.name))]
    pairs = (
        select(Project, Membership.role)
        .join(Membership, Membership.project_id == Project.id)
        .where(Membership.user_id == principal.user_id, Project.tenant_id == principal.tenant_id)
    )
    if only is not None:
        pairs = pairs.where(Project.id == only)
    return [ProjectAccess(p, role) for p, role in await db.execute(pairs.order_by(Project.name))]


async def create(
    db: AsyncSession, principal: Principal, name: str, actor: audit.Actor
) -> ProjectAccess:
    if not principal.tenant_wide_admin:
        raise Forbidden("only tenant admins create projects (with a key not tied to one project)")
    tenant = await db.get(Tenant, principal.tenant_id)
    assert tenant is not None
    await ensure_room(db, tenant.id, "projects")
    if await db.scalar(
        select(Project.id).where(Project.tenant_id == tenant.id, Project.name == name)
    ):
        raise Conflict(f"a project named {name!r} already exists")
    project = Project(tenant_id=tenant.id, name=name)
    db.add(project)
    await db.flush()
    db.add(
        Membership(
            tenant_id=tenant.id, project_id=project.id, user_id=principal.user_id, role="owner"
        )
    )
    await audit.record(
        db,
        actor,
        "project.created",
        tenant_id=tenant.id,
        project_id=project.id,
        target_type="project",
        target_id=project.id,
        details={"name": name},
    )
    return ProjectAccess(project, "owner")


@dataclass(frozen=True)
class MemberChange:
    """A membership as a change left it (``role`` None once removed)."""

    project_id: str
    user_id: str
    email: str
    role: str | None
    is_tenant_admin: bool

    @property
    def acting_role(self) -> str | None:
        """The role the user now acts with: tenant admins own every project of their tenant."""
        return "owner" if self.is_tenant_admin else self.role


async def managed(db: AsyncSession, principal: Principal, project_id: str) -> ProjectAccess:
    """Only the project's owners (and tenant admins) manage its members and invites."""
    acc = await access(db, principal, project_id, write=True)
    if acc.role != "owner":
        raise Forbidden("only project owners manage members")
    return acc


async def _keep_an_owner(db: AsyncSession, membership: Membership, role: str | None) -> None:
    """Refuse to demote or remove a project's last owner: only a tenant admin could then manage
    its members, and the project would look abandoned to everyone else."""
    if membership.role != "owner" or role == "owner":
        return
    others = await db.scalar(
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.project_id == membership.project_id,
            Membership.role == "owner",
            Membership.id != membership.id,
        )
    )
    if not others:
        raise Conflict("a project keeps at least one owner; make someone else owner first")


async def _member(
    db: AsyncSession, principal: Principal, project_id: str, user_id: str
) -> tuple[Membership, User]:
    found = (
        await db.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(
                Membership.project_id == project_id,
                Membership.user_id == user_id,
                Membership.tenant_id == principal.tenant_id,
            )
        )
    ).first()
    if found is None:
        raise NotFound("member not found")
    return found[0], found[1]


async def _set_role(
    db: AsyncSession,
    membership: Membership,
    user: User,
    role: str,
    actor: audit.Actor,
) -> MemberChange:
    previous = membership.role
    await _keep_an_owner(db, membership, role)
    membership.role = role
    await audit.record(
        db,
        actor,
        "project.member_set",
        tenant_id=membership.tenant_id,
        project_id=membership.project_id,
        target_type="user",
        target_id=user.id,
        details={"role": role, "previous_role": previous},
    )
    return MemberChange(membership.project_id, user.id, user.email, role, user.is_tenant_admin)


async def add_member(
    db: AsyncSession,
    principal: Principal,
    project_id: str,
    email: str,
    role: str,
    actor: audit.Actor,
) -> MemberChange:
    """Add a user of the tenant to the project, or change the role of one already in it."""
    await managed(db, principal, project_id)
    user = await db.scalar(
        select(User).where(User.email == email.lower(), User.tenant_id == principal.tenant_id)
    )
    if user is None:
        raise NotFound(f"no user {email} in your organisation")
    membership = await db.scalar(
        select(Membership).where(Membership.project_id == project_id, Membership.user_id == user.id)
    )
    if membership is not None:
        return await _set_role(db, membership, user, role, actor)
    db.add(
        Membership(tenant_id=principal.tenant_id, project_id=project_id, user_id=user.id, role=role)
    )
    await audit.record(
        db,
        actor,
        "project.member_set",
        tenant_id=principal.tenant_id,
        project_id=project_id,
        target_type="user",
        target_id=user.id,
        details={"role": role},
    )
    return MemberChange(project_id, user.id, user.email, role, user.is_tenant_admin)


async def set_member_role(
    db: AsyncSession,
    principal: Principal,
    project_id: str,
    user_id: str,
    role: str,
    actor: audit.Actor,
) -> MemberChange:
    await managed(db, principal, project_id)
    membership, user = await _member(db, principal, project_id, user_id)
    return await _set_role(db, membership, user, role, actor)


async def remove_member(
    db: AsyncSession, principal: Principal, project_id: str, user_id: str, actor: audit.Actor
) -> MemberChange:
    await managed(db, principal, project_id)
    membership, user = await _member(db, principal, project_id, user_id)
    await _keep_an_owner(db, membership, None)
    await db.delete(membership)
    await audit.record(
        db,
        actor,
        "project.member_removed",
        tenant_id=principal.tenant_id,
        project_id=project_id,
        target_type="user",
        target_id=user.id,
        details={"role": membership.role},
    )
    return MemberChange(project_id, user.id, user.email, None, user.is_tenant_admin)


async def members(
    db: AsyncSession, principal: Principal, project_id: str
) -> list[tuple[str, str, str]]:
    await access(db, principal, project_id)
    rows = await db.execute(
        select(User.id, User.email, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project_id, Membership.tenant_id == principal.tenant_id)
        .order_by(User.email)
    )
    return [(uid, email, role) for uid, email, role in rows]


async def oldest(db: AsyncSession, tenant_id: str) -> Project | None:
    """The tenant's first project (``orchestratia up``'s default one), if it has any."""
    return await db.scalar(
        select(Project).where(Project.tenant_id == tenant_id).order_by(Project.created_at).limit(1)
    )
