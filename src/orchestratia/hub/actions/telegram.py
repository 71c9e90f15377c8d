"""A project's Telegram bot: settings checked with Telegram before they are saved, link codes,
unlinking. Telegram is asked first and the change committed after, so a token Telegram refuses
is never stored."""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions.transaction import run
from orchestratia.hub.db.integration_models import TelegramBot
from orchestratia.hub.db.types import new_id
from orchestratia.hub.errors import Invalid
from orchestratia.hub.security import sha256_hex
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.integrations.telegram import bots, linking
from orchestratia.hub.services.integrations.telegram.bot_api import BotApi, TelegramError
from orchestratia.hub.state import HubState
from orchestratia.protocol.telegram import LinkCodePublic, TelegramBotUpdate

WEBHOOK_PATH = "/api/v1/telegram/webhook/{bot_id}"


def _refused(exc: TelegramError) -> Invalid:
    return Invalid(f"Telegram refused the bot token or settings: {exc.description}")


async def save(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    actor: audit.Actor,
    project_id: str,
    body: TelegramBotUpdate,
) -> TelegramBot:
    """Check the token with ``getMe``, point Telegram at the hub (webhook mode) or away from it
    (polling needs no webhook set), then store the settings."""
    current = await bots.for_owner(db, principal, project_id)
    token = body.token or (bots.token_of(hub.keyring, current) if current else None)
    if token is None:
        raise Invalid("a bot token is needed to set up the project's bot")
    bot_id = current.id if current else new_id()
    secret_hash = None
    async with BotApi(hub.settings.telegram_api_base, token) as api:
        try:
            me = await api.get_me()
            if body.mode == "webhook" and body.enabled:
                if not hub.settings.public_url:
                    raise Invalid("webhook mode needs the hub's public_url setting")
                secret = secrets.token_urlsafe(32)
                base = hub.settings.public_url.rstrip("/")
                await api.set_webhook(base + WEBHOOK_PATH.format(bot_id=bot_id), secret)
                secret_hash = sha256_hex(secret)
            else:
                await api.delete_webhook()
        except TelegramError as exc:
            raise _refused(exc) from None
    if not me.get("is_bot") or not isinstance(me.get("username"), str):
        raise Invalid("the token does not belong to a bot")
    setup = bots.BotSetup(body.token, body.mode, body.enabled, me["username"], secret_hash)
    return await run(
        db, hub, lambda _: bots.save(db, hub.keyring, principal, actor, project_id, setup, bot_id)
    )


async def remove(
    db: AsyncSession, hub: HubState, principal: Principal, actor: audit.Actor, project_id: str
) -> None:
    await run(db, hub, lambda _: bots.remove(db, principal, actor, project_id))


async def new_link_code(
    db: AsyncSession, hub: HubState, principal: Principal, actor: audit.Actor, project_id: str
) -> LinkCodePublic:
    return await run(db, hub, lambda _: linking.new_code(db, principal, actor, project_id))


async def unlink(
    db: AsyncSession, hub: HubState, principal: Principal, actor: audit.Actor, link_id: str
) -> None:
    await run(db, hub, lambda _: linking.unlink(db, principal, actor, link_id))
