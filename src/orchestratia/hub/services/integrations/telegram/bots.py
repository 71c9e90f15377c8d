"""A project's Telegram bot: its settings (the token sealed, never shown again), who manages it
(project owners and tenant admins), and the chats linked to it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.integration_models import TelegramBot, TelegramLink
from orchestratia.hub.db.models import User
from orchestratia.hub.db.types import new_id, utcnow
from orchestratia.hub.errors import Invalid, NotFound
from orchestratia.hub.sealed_columns import TELEGRAM_TOKEN
from orchestratia.hub.sealing import Keyring
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.projects import managed
from orchestratia.protocol.telegram import TelegramBotPublic, TelegramLinkPublic, TelegramMode

NO_BOT = "this project has no Telegram bot"


@dataclass(frozen=True)
class BotSetup:
    """What a save stores: checked with Telegram beforehand (``username`` from ``getMe``)."""

    token: str | None  # None keeps the stored token
    mode: TelegramMode
    enabled: bool
    username: str | None
    webhook_secret_hash: str | None


async def for_owner(db: AsyncSession, principal: Principal, project_id: str) -> TelegramBot | None:
    """The project's bot, for one of its owners (others get NotFound or Forbidden)."""
    acc = await managed(db, principal, project_id)
    return await db.scalar(select(TelegramBot).where(TelegramBot.project_id == acc.project.id))


async def existing(db: AsyncSession, principal: Principal, project_id: str) -> TelegramBot:
    bot = await for_owner(db, principal, project_id)
    if bot is None:
        raise NotFound(NO_BOT)
    return bot


def token_of(keyring: Keyring, bot: TelegramBot) -> str:
    return keyring.open(bot.token_sealed, TELEGRAM_TOKEN.aad(bot.id))


async def save(
    db: AsyncSession,
    keyring: Keyring,
    principal: Principal,
    actor: audit.Actor,
    project_id: str,
    setup: BotSetup,
    bot_id: str | None = None,
) -> TelegramBot:
    """Create or change the project's bot (``bot_id``: the id a new bot gets, chosen before the
    webhook URL that names it was registered)."""
    bot = await for_owner(db, principal, project_id)
    created = bot is None
    if bot is None:
        if setup.token is None:
            raise Invalid("a bot token is needed to set up the project's bot")
        bot = TelegramBot(
            id=bot_id or new_id(),
            tenant_id=principal.tenant_id,
            project_id=project_id,
            created_at=utcnow(),
            update_offset=0,
        )
        db.add(bot)
    if setup.token is not None:
        if not created and setup.token != token_of(keyring, bot):
            # Another bot: its updates count from zero and its chats must link again.
            bot.update_offset = 0
            await db.execute(delete(TelegramLink).where(TelegramLink.bot_id == bot.id))
        bot.token_sealed = keyring.seal(setup.token, TELEGRAM_TOKEN.aad(bot.id))
    bot.username = setup.username or bot.username
    bot.mode = setup.mode
    bot.enabled = setup.enabled
    bot.webhook_secret_hash = setup.webhook_secret_hash
    bot.last_error = None
    # Whoever polled the old settings lets go; the next poll starts from the new ones.
    bot.poll_owner, bot.poll_until = None, None
    await db.flush()
    details = {
        "username": bot.username,
        "mode": bot.mode,
        "enabled": bot.enabled,
        "token_changed": setup.token is not None,
    }
    action = "telegram.bot_created" if created else "telegram.bot_updated"
    await audit.record_on(db, actor, action, "telegram_bot", bot, details)
    return bot


async def remove(
    db: AsyncSession, principal: Principal, actor: audit.Actor, project_id: str
) -> None:
    bot = await existing(db, principal, project_id)
    await audit.record_on(db, actor, "telegram.bot_deleted", "telegram_bot", bot)
    await db.delete(bot)


async def public(db: AsyncSession, bot: TelegramBot) -> TelegramBotPublic:
    rows = await db.execute(
        select(TelegramLink, User.email)
        .join(User, User.id == TelegramLink.user_id)
        .where(TelegramLink.bot_id == bot.id)
        .order_by(TelegramLink.created_at)
    )
    links = [
        TelegramLinkPublic(
            id=link.id,
            user_id=link.user_id,
            email=email,
            telegram_username=link.telegram_username,
            created_at=link.created_at,
        )
        for link, email in rows
    ]
    return TelegramBotPublic(
        id=bot.id,
        project_id=bot.project_id,
        username=bot.username,
        mode="webhook" if bot.mode == "webhook" else "polling",
        enabled=bot.enabled,
        last_error=bot.last_error,
        links=links,
        created_at=bot.created_at,
    )
