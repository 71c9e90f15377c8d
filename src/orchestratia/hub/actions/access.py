"""Who may do what: logging out, changing a password, project membership. Each change revokes,
on every replica, the sockets it ends or narrows."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions.transaction import run
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import auth, projects
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.state import HubState
from orchestratia.protocol.rest import Role
from orchestratia.protocol.revocations import AccessChanged, LoginsRevoked


async def create_project(
    db: AsyncSession, hub: HubState, principal: Principal, name: str, actor: audit.Actor
) -> projects.ProjectAccess:
    return await run(db, hub, lambda _: projects.create(db, principal, name, actor))


async def logout(db: AsyncSession, hub: HubState, principal: Principal, actor: audit.Actor) -> None:
    async def work(outbox: Outbox) -> None:
        await auth.logout(db, principal, actor)
        ended = LoginsRevoked(auth_session_ids=[principal.auth_session_id], reason="logout")
        outbox.revocations.append(ended)

    await run(db, hub, work)


async def change_password(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    current: str,
    new: str,
    actor: audit.Actor,
) -> None:
    """New password; the user's other logins end (this one stays)."""

    async def work(outbox: Outbox) -> None:
        ended = await auth.change_password(db, hub.throttle, principal, current, new, actor)
        if ended:
            outbox.revocations.append(
                LoginsRevoked(auth_session_ids=ended, reason="password_changed")
            )

    await run(db, hub, work)


def _changed(outbox: Outbox, change: projects.MemberChange) -> projects.MemberChange:
    """Every replica hears of it, so the user's open sockets follow the new role at once."""
    outbox.revocations.append(
        AccessChanged(project_id=change.project_id, user_id=change.user_id, role=change.acting_role)
    )
    return change


async def add_member(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    project_id: str,
    email: str,
    role: Role,
    actor: audit.Actor,
) -> projects.MemberChange:
    async def work(outbox: Outbox) -> projects.MemberChange:
        change = await projects.add_member(db, principal, project_id, email, role, actor)
        return _changed(outbox, change)

    return await run(db, hub, work)


async def set_member_role(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    project_id: str,
    user_id: str,
    role: Role,
    actor: audit.Actor,
) -> projects.MemberChange:
    async def work(outbox: Outbox) -> projects.MemberChange:
        change = await projects.set_member_role(db, principal, project_id, user_id, role, actor)
        return _changed(outbox, change)

    return await run(db, hub, work)


async def remove_member(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    project_id: str,
    user_id: str,
    actor: audit.Actor,
) -> None:
    async def work(outbox: Outbox) -> None:
        _changed(outbox, await projects.remove_member(db, principal, project_id, user_id, actor))

    await run(db, hub, work)
