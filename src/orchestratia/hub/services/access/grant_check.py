"""What a replica re-checks its open sockets against (``ws.replicas.recheck_sockets``): the
revocations the bus should have told it may have been lost, so the database is asked instead."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Membership, Project, ServerApiKey, User

Pair = tuple[str, str]  # user id, project id


async def project_roles(db: AsyncSession, pairs: set[Pair]) -> dict[Pair, str | None]:
    """Each user's role on each project now, as ``projects.access`` computes it (a tenant admin
    owns every project of the tenant); None for no access left."""
    if not pairs:
        return {}
    user_ids = {user_id for user_id, _ in pairs}
    project_ids = {project_id for _, project_id in pairs}
    users = {u.id: u for u in await db.scalars(select(User).where(User.id.in_(user_ids)))}
    found = await db.execute(
        select(Project.id, Project.tenant_id).where(Project.id.in_(project_ids))
    )
    tenants: dict[str, str] = {project_id: tenant_id for project_id, tenant_id in found}
    rows = await db.execute(
        select(
            Membership.user_id, Membership.project_id, Membership.tenant_id, Membership.role
        ).where(Membership.user_id.in_(user_ids), Membership.project_id.in_(project_ids))
    )
    roles = {(u, p): role for u, p, tenant, role in rows if tenants.get(p) == tenant}
    result: dict[Pair, str | None] = {}
    for user_id, project_id in pairs:
        user = users.get(user_id)
        if user is None or tenants.get(project_id) != user.tenant_id:
            result[(user_id, project_id)] = None
        elif user.is_tenant_admin:
            result[(user_id, project_id)] = "owner"
        else:
            result[(user_id, project_id)] = roles.get((user_id, project_id))
    return result


async def revoked_keys(db: AsyncSession, key_hashes: set[str]) -> set[str]:
    """Of these server keys (hashes), the ones no longer active (revoked or gone)."""
    if not key_hashes:
        return set()
    active = await db.scalars(
        select(ServerApiKey.key_hash).where(
            ServerApiKey.key_hash.in_(key_hashes), ServerApiKey.revoked_at.is_(None)
        )
    )
    return key_hashes - set(active)
