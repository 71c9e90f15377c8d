"""Updates Telegram posts to the hub in webhook mode: checked against the bot's secret token,
then handled like a polled update."""

from __future__ import annotations

import hmac
from typing import Any

from orchestratia.hub.db.integration_models import TelegramBot
from orchestratia.hub.errors import NotFound, Unauthorized
from orchestratia.hub.security import sha256_hex
from orchestratia.hub.services.integrations.telegram import bots, updates
from orchestratia.hub.services.integrations.telegram.bot_api import BotApi
from orchestratia.hub.state import HubState


async def receive(hub: HubState, bot_id: str, secret: str, update: dict[str, Any]) -> None:
    async with hub.sessionmaker() as db:
        bot = await db.get(TelegramBot, bot_id)
        if bot is None or not bot.enabled or bot.mode != "webhook":
            raise NotFound("no such bot takes webhook updates")
        expected = bot.webhook_secret_hash or ""
        if not expected or not hmac.compare_digest(sha256_hex(secret), expected):
            raise Unauthorized("the secret token does not match")
        token = bots.token_of(hub.keyring, bot)
    async with BotApi(hub.settings.telegram_api_base, token) as api:
        await updates.handle(hub, bot, api, update)
