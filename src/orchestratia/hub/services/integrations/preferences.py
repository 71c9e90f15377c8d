"""Which events reach each user by Telegram and by email. A user reads and changes only their
own (through their principal); no row for a channel means its defaults (``DEFAULT_NOTIFY``)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.integration_models import (
    NotificationPreference,
    TelegramBot,
    TelegramLink,
)
from orchestratia.hub.db.models import Membership, Project
from orchestratia.hub.db.team_models import MailSettings
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.protocol.integration_events import (
    DEFAULT_NOTIFY,
    NOTIFIABLE_EVENTS,
    NOTIFY_CHANNELS,
    EventType,
    NotifyChannel,
)
from orchestratia.protocol.notification_preferences import (
    NotificationPreferences,
    NotificationPreferencesChange,
)


def _in_order(events: Collection[str]) -> list[EventType]:
    """``events`` in the fixed order of NOTIFIABLE_EVENTS (stored lists read the same way)."""
    return [event for event in NOTIFIABLE_EVENTS if event in events]


async def _rows(
    db: AsyncSession, tenant_id: str, user_ids: Collection[str]
) -> list[NotificationPreference]:
    found = await db.scalars(
        select(NotificationPreference).where(
            NotificationPreference.tenant_id == tenant_id,
            NotificationPreference.user_id.in_(list(user_ids)),
        )
    )
    return list(found)


async def wanted(
    db: AsyncSession, tenant_id: str, user_ids: Collection[str], channel: NotifyChannel
) -> dict[str, list[EventType]]:
    """For each of ``user_ids`` (of ``tenant_id``), the events they want over ``channel``."""
    chosen = {
        row.user_id: _in_order(row.events)
        for row in await _rows(db, tenant_id, user_ids)
        if row.channel == channel
    }
    default = list(DEFAULT_NOTIFY[channel])
    return {user_id: chosen.get(user_id, default) for user_id in user_ids}


async def _telegram_linked(db: AsyncSession, principal: Principal) -> list[str]:
    """Projects (of which the user is still a member) whose bot has a chat linked to them."""
    names = await db.scalars(
        select(Project.name)
        .join(TelegramBot, TelegramBot.project_id == Project.id)
        .join(TelegramLink, TelegramLink.bot_id == TelegramBot.id)
        .join(
            Membership,
            (Membership.project_id == Project.id) & (Membership.user_id == TelegramLink.user_id),
        )
        .where(
            TelegramLink.user_id == principal.user_id,
            TelegramLink.tenant_id == principal.tenant_id,
            Project.tenant_id == principal.tenant_id,
        )
        .order_by(Project.name)
    )
    return list(names)


async def read(db: AsyncSession, principal: Principal) -> NotificationPreferences:
    mine = {
        channel: (await wanted(db, principal.tenant_id, [principal.user_id], channel))[
            principal.user_id
        ]
        for channel in NOTIFY_CHANNELS
    }
    mail = await db.scalar(
        select(MailSettings.tenant_id).where(MailSettings.tenant_id == principal.tenant_id)
    )
    return NotificationPreferences(
        telegram=mine["telegram"],
        email=mine["email"],
        telegram_linked=await _telegram_linked(db, principal),
        email_available=mail is not None,
    )


async def change(
    db: AsyncSession,
    principal: Principal,
    wanted_now: NotificationPreferencesChange,
    actor: audit.Actor,
) -> NotificationPreferences:
    """Store the lists given; an audit row naming what changed, only when something did."""
    before = await read(db, principal)
    rows = {row.channel: row for row in await _rows(db, principal.tenant_id, [principal.user_id])}
    changed: dict[str, list[str]] = {}
    for channel in NOTIFY_CHANNELS:
        given = getattr(wanted_now, channel)
        if given is None:
            continue
        events: list[str] = list(_in_order(given))
        if events == getattr(before, channel) and channel in rows:
            continue
        row = rows.get(channel)
        if row is None:
            row = NotificationPreference(
                tenant_id=principal.tenant_id, user_id=principal.user_id, channel=channel
            )
            db.add(row)
        row.events, row.updated_at = events, utcnow()
        if events != getattr(before, channel):
            changed[channel] = list(events)
    if changed:
        await audit.record(
            db,
            actor,
            "user.notifications_changed",
            tenant_id=principal.tenant_id,
            target_type="user",
            target_id=principal.user_id,
            details=changed,
        )
    await db.flush()
    return await read(db, principal)
