"""Tenants and users: the first admin, and adding users to a tenant."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Tenant, User
from orchestratia.hub.errors import Conflict
from orchestratia.hub.security import hash_password
from orchestratia.hub.services import audit


async def create_admin(
    db: AsyncSession, email: str, password: str, tenant_name: str, plan: str
) -> User:
    """Create a tenant (or reuse one of that name) with ``email`` as its admin."""
    email = email.lower()
    if await db.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"a user with email {email} already exists")
    tenant = await db.scalar(select(Tenant).where(Tenant.name == tenant_name).limit(1))
    if tenant is None:
        tenant = Tenant(name=tenant_name, plan=plan)
        db.add(tenant)
        await db.flush()
    user = User(
        tenant_id=tenant.id,
        email=email,
        password_hash=await asyncio.to_thread(hash_password, password),
        is_tenant_admin=True,
    )
    db.add(user)
    await db.flush()
    await audit.record(
        db,
        audit.Actor("system"),
        "user.created",
        tenant_id=tenant.id,
        target_type="user",
        target_id=user.id,
        details={"email": email, "tenant_admin": True},
    )
    await db.commit()
    return user


async def create_user(
    db: AsyncSession, tenant_id: str, email: str, password: str, actor: audit.Actor
) -> User:
    email = email.lower()
    if await db.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"a user with email {email} already exists")
    user = User(
        tenant_id=tenant_id,
        email=email,
        password_hash=await asyncio.to_thread(hash_password, password),
    )
    db.add(user)
    await db.flush()
    await audit.record(
        db, actor, "user.created", tenant_id=tenant_id, target_type="user", target_id=user.id
    )
    await db.commit()
    return user


async def has_users(db: AsyncSession) -> bool:
    return (await db.scalar(select(User.id).limit(1))) is not None


async def first_admin(db: AsyncSession) -> User | None:
    """The oldest tenant admin: the one ``orchestratia up`` made on its first run."""
    return await db.scalar(
        select(User).where(User.is_tenant_admin.is_(True)).order_by(User.created_at).limit(1)
    )
