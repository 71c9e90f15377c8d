"""The dispatcher: committed integration events become work for the delivery workers — one
``WebhookDelivery`` per endpoint that wants the event, one ``Notification`` per person and
channel that should hear of it.

Exactly once across replicas: events are taken oldest first (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so a second dispatcher passes over rows the first holds), and each is claimed by a
conditional UPDATE of ``dispatched_at`` that only one transaction can win (which is what makes
it safe on SQLite too). The claim, the deliveries and the notifications of a batch commit
together: a dispatcher that dies mid-batch leaves its events undispatched for the next one.
Dispatching an event again adds nothing it already has (and the unique keys on
(endpoint, event) and (event, user, channel) would refuse a duplicate anyway)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.integration_models import (
    IntegrationEvent,
    Notification,
    TelegramBot,
    TelegramLink,
    WebhookDelivery,
    WebhookEndpoint,
)
from orchestratia.hub.db.models import Membership, User
from orchestratia.hub.db.team_models import MailSettings
from orchestratia.hub.db.types import new_id, utcnow
from orchestratia.hub.services.integrations import preferences
from orchestratia.protocol.integration_events import (
    NOTIFIABLE_EVENTS,
    NOTIFY_CHANNELS,
    NotifyChannel,
)

BATCH = 100
# The one status change people are told about: a plan waits for their review.
NOTIFIED_STATUS = "plan_review"


@dataclass
class Dispatched:
    """What one run made: events claimed, deliveries and notifications queued."""

    events: int = 0
    deliveries: int = 0
    notifications: int = 0

    def add(self, other: Dispatched) -> None:
        self.events += other.events
        self.deliveries += other.deliveries
        self.notifications += other.notifications


def notifies(event: IntegrationEvent) -> bool:
    """Whether people hear of ``event`` at all (before their preferences)."""
    if event.type not in NOTIFIABLE_EVENTS:
        return False
    if event.type == "task.status_changed":
        task: dict[str, Any] = event.data.get("task") or {}
        return task.get("status") == NOTIFIED_STATUS
    return True


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return not endpoint.events or event_type in endpoint.events


@dataclass
class Audience:
    """Who may hear of a project's events, looked up once per project and batch."""

    endpoints: list[WebhookEndpoint]
    # user id → the channels they can be reached on, with the event types they want there.
    channels: dict[str, dict[NotifyChannel, set[str]]] = field(default_factory=dict)


async def audience(db: AsyncSession, tenant_id: str, project_id: str) -> Audience:
    """The enabled endpoints of the project, and its active members with their channels: email
    when the tenant has mail settings, Telegram when they linked a chat to the project's
    enabled bot; each with their preferences (or the defaults). Only members see a project,
    so only members are told of it."""
    endpoints = await db.scalars(
        select(WebhookEndpoint)
        .where(
            WebhookEndpoint.tenant_id == tenant_id,
            WebhookEndpoint.project_id == project_id,
            WebhookEndpoint.enabled.is_(True),
        )
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    found = Audience(list(endpoints))
    members = list(
        await db.scalars(
            select(User.id)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.project_id == project_id,
                Membership.tenant_id == tenant_id,
                User.tenant_id == tenant_id,
                User.is_active.is_(True),
            )
        )
    )
    if not members:
        return found
    reachable: dict[NotifyChannel, list[str]] = {"telegram": [], "email": []}
    if await db.scalar(select(MailSettings.tenant_id).where(MailSettings.tenant_id == tenant_id)):
        reachable["email"] = members
    reachable["telegram"] = list(
        await db.scalars(
            select(TelegramLink.user_id)
            .join(TelegramBot, TelegramBot.id == TelegramLink.bot_id)
            .where(
                TelegramBot.project_id == project_id,
                TelegramBot.tenant_id == tenant_id,
                TelegramBot.enabled.is_(True),
                TelegramLink.user_id.in_(members),
            )
        )
    )
    for channel in NOTIFY_CHANNELS:
        chosen = await preferences.wanted(db, tenant_id, reachable[channel], channel)
        for user_id, types in chosen.items():
            found.channels.setdefault(user_id, {})[channel] = set(types)
    return found


async def _claim(db: AsyncSession, now: datetime) -> list[IntegrationEvent]:
    """Take up to ``BATCH`` undispatched events, oldest first, in this transaction."""
    stmt = (
        select(IntegrationEvent)
        .where(IntegrationEvent.dispatched_at.is_(None))
        .order_by(IntegrationEvent.created_at, IntegrationEvent.id)
        .limit(BATCH)
    )
    if db.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    found = list(await db.scalars(stmt))
    if not found:
        return []
    # One conditional UPDATE for the batch (not one per event: a reconnecting fleet makes
    # thousands of server events); only the rows it changed are ours.
    won = await db.scalars(
        update(IntegrationEvent)
        .where(
            IntegrationEvent.id.in_([event.id for event in found]),
            IntegrationEvent.dispatched_at.is_(None),
        )
        .values(dispatched_at=now)
        .returning(IntegrationEvent.id)
        .execution_options(synchronize_session=False)
    )
    ours = set(won)
    return [event for event in found if event.id in ours]


async def _fan_out(
    db: AsyncSession, event: IntegrationEvent, seen: Audience, now: datetime, retry: timedelta
) -> Dispatched:
    made = Dispatched(events=1)
    wanting = [endpoint for endpoint in seen.endpoints if wants(endpoint, event.type)]
    had_endpoints = set()
    if wanting:  # no query for the many events no endpoint wants (a fleet's server events)
        had_endpoints = set(
            await db.scalars(
                select(WebhookDelivery.endpoint_id).where(WebhookDelivery.event_id == event.id)
            )
        )
    for endpoint in wanting:
        if endpoint.id in had_endpoints:
            continue
        db.add(
            WebhookDelivery(
                id=new_id(),
                tenant_id=event.tenant_id,
                project_id=event.project_id,
                endpoint_id=endpoint.id,
                event_id=event.id,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                give_up_at=now + retry,
                created_at=now,
            )
        )
        made.deliveries += 1
    if not notifies(event):
        return made
    had_people = set(
        (row.user_id, row.channel)
        for row in await db.execute(
            select(Notification.user_id, Notification.channel).where(
                Notification.event_id == event.id
            )
        )
    )
    for user_id, channels in seen.channels.items():
        for channel, types in channels.items():
            if event.type not in types or (user_id, channel) in had_people:
                continue
            db.add(
                Notification(
                    id=new_id(),
                    tenant_id=event.tenant_id,
                    user_id=user_id,
                    event_id=event.id,
                    channel=channel,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            made.notifications += 1
    return made


async def dispatch_batch(db: AsyncSession, retry_window: timedelta) -> Dispatched:
    """Dispatch up to ``BATCH`` events and commit; what was made (``events`` 0: none left)."""
    now = utcnow()
    made = Dispatched()
    try:
        events = await _claim(db, now)
        audiences: dict[tuple[str, str], Audience] = {}
        for event in events:
            key = (event.tenant_id, event.project_id)
            if key not in audiences:
                audiences[key] = await audience(db, *key)
            made.add(await _fan_out(db, event, audiences[key], now, retry_window))
        await db.commit()
    except BaseException:
        await db.rollback()
        raise
    return made
