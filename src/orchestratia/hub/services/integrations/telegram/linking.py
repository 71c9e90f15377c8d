"""Linking a person's Telegram chat to a project's bot with a one-time code from the dashboard,
and finding the person behind a chat. A chat that is not linked can do nothing."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.integration_models import TelegramBot, TelegramLink, TelegramLinkCode
from orchestratia.hub.db.models import User
from orchestratia.hub.db.types import new_id, utcnow
from orchestratia.hub.errors import Conflict, NotFound
from orchestratia.hub.security import sha256_hex
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.projects import access
from orchestratia.protocol.telegram import LinkCodePublic

CODE_TTL = timedelta(minutes=10)


async def new_code(
    db: AsyncSession, principal: Principal, actor: audit.Actor, project_id: str
) -> LinkCodePublic:
    """A code for the caller to send the project's bot; any member may link their own chat
    (what they can do from it is what their role allows)."""
    acc = await access(db, principal, project_id)
    bot = await db.scalar(select(TelegramBot).where(TelegramBot.project_id == acc.project.id))
    if bot is None or not bot.enabled or not bot.username:
        raise Conflict("this project's Telegram bot is not set up or is turned off")
    code = secrets.token_urlsafe(18)  # the characters a deep link's start parameter allows
    row = TelegramLinkCode(
        id=new_id(),
        tenant_id=principal.tenant_id,
        bot_id=bot.id,
        user_id=principal.user_id,
        code_hash=sha256_hex(code),
        created_at=utcnow(),
        expires_at=utcnow() + CODE_TTL,
    )
    db.add(row)
    await audit.record(
        db,
        actor,
        "telegram.link_code_created",
        tenant_id=principal.tenant_id,
        project_id=bot.project_id,
        target_type="telegram_bot",
        target_id=bot.id,
    )
    return LinkCodePublic(
        code=code,
        command=f"/start {code}",
        deep_link=f"https://t.me/{bot.username}?start={code}",
        expires_at=row.expires_at,
    )


async def redeem(
    db: AsyncSession,
    bot: TelegramBot,
    code: str,
    chat_id: int,
    telegram_user_id: int,
    telegram_username: str | None,
) -> User | None:
    """Link the chat to the code's owner; None for a wrong, used or expired code. The code is
    spent with a conditional update, so one code links one chat."""
    now = utcnow()
    found = await db.scalar(
        select(TelegramLinkCode).where(
            TelegramLinkCode.code_hash == sha256_hex(code),
            TelegramLinkCode.bot_id == bot.id,
            TelegramLinkCode.used_at.is_(None),
            TelegramLinkCode.expires_at > now,
        )
    )
    if found is None:
        return None
    spent = await db.execute(
        update(TelegramLinkCode)
        .where(TelegramLinkCode.id == found.id, TelegramLinkCode.used_at.is_(None))
        .values(used_at=now)
    )
    user = await db.get(User, found.user_id)
    if spent.rowcount != 1 or user is None or not user.is_active:  # type: ignore[attr-defined]
        return None
    # One chat per person and one person per chat: a new link replaces what it overlaps.
    await db.execute(
        delete(TelegramLink).where(
            TelegramLink.bot_id == bot.id,
            or_(TelegramLink.user_id == user.id, TelegramLink.chat_id == chat_id),
        )
    )
    link = TelegramLink(
        id=new_id(),
        tenant_id=bot.tenant_id,
        bot_id=bot.id,
        user_id=user.id,
        chat_id=chat_id,
        telegram_user_id=telegram_user_id,
        telegram_username=(telegram_username or None) and telegram_username[:64],
        created_at=now,
    )
    db.add(link)
    actor = audit.Actor("user", user.email)
    details = {"telegram_user_id": telegram_user_id, "chat_id": chat_id}
    await audit.record(
        db,
        actor,
        "telegram.linked",
        tenant_id=bot.tenant_id,
        project_id=bot.project_id,
        target_type="telegram_link",
        target_id=link.id,
        details=details,
    )
    return user


def principal_for(user: User) -> Principal:
    """The person behind a linked chat, acting with their own role (bound to no login)."""
    return Principal(user.id, user.tenant_id, user.email, user.is_tenant_admin, "telegram")


async def linked_user(
    db: AsyncSession, bot: TelegramBot, chat_id: int, telegram_user_id: int
) -> User | None:
    """The active person whose link is this chat and this Telegram account, else None."""
    return await db.scalar(
        select(User)
        .join(TelegramLink, TelegramLink.user_id == User.id)
        .where(
            TelegramLink.bot_id == bot.id,
            TelegramLink.chat_id == chat_id,
            TelegramLink.telegram_user_id == telegram_user_id,
            User.is_active.is_(True),
            User.tenant_id == bot.tenant_id,
        )
    )


async def chat_of(db: AsyncSession, bot_id: str, user_id: str) -> int | None:
    return await db.scalar(
        select(TelegramLink.chat_id).where(
            TelegramLink.bot_id == bot_id, TelegramLink.user_id == user_id
        )
    )


async def own_view(
    db: AsyncSession, principal: Principal, project_id: str
) -> tuple[TelegramBot | None, TelegramLink | None]:
    """For any member: the project's bot (its token stays sealed) and the caller's own link."""
    acc = await access(db, principal, project_id)
    bot = await db.scalar(select(TelegramBot).where(TelegramBot.project_id == acc.project.id))
    if bot is None:
        return None, None
    mine = await db.scalar(
        select(TelegramLink).where(
            TelegramLink.bot_id == bot.id, TelegramLink.user_id == principal.user_id
        )
    )
    return bot, mine


async def unlink(db: AsyncSession, principal: Principal, actor: audit.Actor, link_id: str) -> None:
    """People unlink their own chat; a project's owners unlink anyone's."""
    link = await db.scalar(
        select(TelegramLink).where(
            TelegramLink.id == link_id, TelegramLink.tenant_id == principal.tenant_id
        )
    )
    bot = await db.get(TelegramBot, link.bot_id) if link is not None else None
    if link is None or bot is None:
        raise NotFound("link not found")
    acc = await access(db, principal, bot.project_id)
    if link.user_id != principal.user_id and acc.role != "owner":
        raise NotFound("link not found")
    await audit.record(
        db,
        actor,
        "telegram.unlinked",
        tenant_id=bot.tenant_id,
        project_id=bot.project_id,
        target_type="telegram_link",
        target_id=link.id,
        details={"user_id": link.user_id},
    )
    await db.delete(link)
