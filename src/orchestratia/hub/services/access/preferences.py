"""A user's own preferences: read and changed only through their own principal, so nobody
reaches another user's row."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import User
from orchestratia.hub.errors import NotFound
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.protocol.preferences import Preferences, PreferencesChange


async def _user(db: AsyncSession, principal: Principal) -> User:
    user = await db.scalar(
        select(User).where(User.id == principal.user_id, User.tenant_id == principal.tenant_id)
    )
    if user is None:
        raise NotFound("user not found")
    return user


async def read(db: AsyncSession, principal: Principal) -> Preferences:
    user = await _user(db, principal)
    return Preferences(browser_notifications=user.browser_notifications)


async def change(
    db: AsyncSession, principal: Principal, wanted: PreferencesChange, actor: audit.Actor
) -> Preferences:
    """Set the preferences; an audit row only when something actually changed."""
    user = await _user(db, principal)
    if user.browser_notifications != wanted.browser_notifications:
        user.browser_notifications = wanted.browser_notifications
        await audit.record_on_user(
            db,
            actor,
            "user.preferences_changed",
            user,
            {"browser_notifications": wanted.browser_notifications},
        )
    return Preferences(browser_notifications=user.browser_notifications)
