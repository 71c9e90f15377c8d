"""Sending ``telegram`` notifications: each due ``Notification`` row is leased by one replica,
turned into a message to the person's linked chat of the project's bot, and recorded
(``TelegramMessage``) so a reply or a tap on it finds its inbox item. Telegram's errors are
retried a few times with backoff (a 429's ``retry_after`` respected); a person without a linked
chat, or without access to the project any more, is skipped."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.integration_models import (
    IntegrationEvent,
    Notification,
    TelegramBot,
    TelegramMessage,
)
from orchestratia.hub.db.models import User
from orchestratia.hub.db.types import new_id, utcnow
from orchestratia.hub.errors import NotFound
from orchestratia.hub.services.access.projects import access
from orchestratia.hub.services.integrations import leases, retry
from orchestratia.hub.services.integrations.telegram import bots, linking, render
from orchestratia.hub.services.integrations.telegram.bot_api import BotApi, TelegramError
from orchestratia.hub.state import HubState

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
BATCH = 20
MAX_ATTEMPTS = 5
BACKOFF_BASE = 2.0  # seconds; doubled per attempt, with full jitter
BACKOFF_CAP = 300.0


def backoff(attempt: int, retry_after: int | None) -> float:
    """Seconds before the next attempt: the webhooks' full jitter, its ceiling BACKOFF_BASE after
    the first failed ``attempt`` and doubling, never sooner than Telegram's own ``retry_after``."""
    return max(float(retry_after or 0), retry.backoff_delay(attempt - 1, BACKOFF_BASE, BACKOFF_CAP))


async def deliver_due(hub: HubState) -> int:
    """Send what is due now; how many rows this replica claimed."""
    async with hub.sessionmaker() as db:
        rows = await leases.claim(
            db,
            Notification,
            hub.replica_id,
            LEASE,
            BATCH,
            extra=[Notification.channel == "telegram"],
        )
    for row in rows:
        async with hub.sessionmaker() as db:
            await _deliver(db, hub, row)
    return len(rows)


async def _target(
    db: AsyncSession, row: Notification, event: IntegrationEvent
) -> tuple[TelegramBot, int] | str:
    """The bot and chat to send to, or why there is none."""
    bot = await db.scalar(
        select(TelegramBot).where(
            TelegramBot.project_id == event.project_id,
            TelegramBot.tenant_id == row.tenant_id,
            TelegramBot.enabled.is_(True),
        )
    )
    if bot is None:
        return "the project has no Telegram bot turned on"
    user = await db.get(User, row.user_id)
    chat = await linking.chat_of(db, bot.id, row.user_id)
    if user is None or not user.is_active or chat is None:
        return "no linked Telegram chat"
    try:
        await access(db, linking.principal_for(user), event.project_id)
    except NotFound:
        return "no access to the project"
    return bot, chat


async def _deliver(db: AsyncSession, hub: HubState, row: Notification) -> None:
    owner = hub.replica_id
    event = await db.get(IntegrationEvent, row.event_id)
    target = await _target(db, row, event) if event is not None else "the event is gone"
    message = await render.outgoing(db, event) if event is not None else None
    if isinstance(target, str) or message is None:
        reason = target if isinstance(target, str) else "not told over Telegram"
        await leases.release(db, Notification, row.id, owner, status="skipped", error=reason)
        await db.commit()
        return
    bot, chat = target
    attempt = row.attempts + 1
    try:
        async with BotApi(hub.settings.telegram_api_base, bots.token_of(hub.keyring, bot)) as api:
            sent = await api.send_message(chat, message.text, message.markup)
    except TelegramError as exc:
        give_up = attempt >= MAX_ATTEMPTS or not exc.retryable
        later = utcnow() + timedelta(seconds=backoff(attempt, exc.retry_after))
        await leases.release(
            db,
            Notification,
            row.id,
            owner,
            attempts=attempt,
            error=exc.description,
            status="failed" if give_up else "pending",
            next_attempt_at=later,
        )
        bot.last_error = exc.description
        await db.commit()
        log.warning("telegram notification %s attempt %d failed: %s", row.id, attempt, exc)
        return
    db.add(
        TelegramMessage(
            id=new_id(),
            tenant_id=bot.tenant_id,
            bot_id=bot.id,
            chat_id=chat,
            message_id=int(sent.get("message_id", 0)),
            kind=message.kind,
            target_id=message.target_id,
            created_at=utcnow(),
        )
    )
    await leases.release(
        db,
        Notification,
        row.id,
        owner,
        attempts=attempt,
        status="sent",
        sent_at=utcnow(),
        error=None,
    )
    await db.commit()
