"""A project's Telegram bot and the links of people to chats: request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from orchestratia.protocol.rest import StrictBody

TelegramMode = Literal["polling", "webhook"]
# A bot token as @BotFather hands it out: the bot's numeric id, a colon, a secret.
TOKEN_PATTERN = r"^[0-9]{3,20}:[A-Za-z0-9_-]{20,100}$"


class TelegramBotUpdate(StrictBody):
    """Set up or change the project's bot. ``token`` omitted keeps the stored one (the first
    set-up needs it); it is checked with Telegram's ``getMe`` before anything is saved."""

    token: str | None = Field(default=None, pattern=TOKEN_PATTERN, max_length=128)
    mode: TelegramMode = "polling"
    enabled: bool = True


class TelegramLinkPublic(BaseModel):
    id: str
    user_id: str
    email: str
    telegram_username: str | None
    created_at: datetime


class TelegramBotPublic(BaseModel):
    """The bot as its project's owners see it: never the token."""

    id: str
    project_id: str
    username: str | None
    mode: TelegramMode
    enabled: bool
    last_error: str | None
    links: list[TelegramLinkPublic]
    created_at: datetime


class LinkCodeCreate(StrictBody):
    project_id: str = Field(min_length=1, max_length=64)


class LinkCodePublic(BaseModel):
    """Shown once: the code to send the bot, and the link that sends it."""

    code: str
    command: str
    deep_link: str
    expires_at: datetime
