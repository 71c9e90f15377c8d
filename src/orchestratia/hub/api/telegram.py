"""A project's Telegram bot (owners and tenant admins), link codes and unlinking (any member,
for their own chat), and the webhook Telegram posts updates to in webhook mode."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Response

from orchestratia.hub.actions import telegram as telegram_actions
from orchestratia.hub.actions import telegram_updates
from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep, UserActorDep
from orchestratia.hub.api.scopes import LOGIN_ONLY, PUBLIC, needs
from orchestratia.hub.services.integrations.telegram import bots
from orchestratia.protocol.telegram import (
    LinkCodeCreate,
    LinkCodePublic,
    TelegramBotPublic,
    TelegramBotUpdate,
)

router = APIRouter(tags=["telegram"])
BOT = "/api/v1/projects/{project_id}/telegram"


@router.get(BOT, dependencies=[needs("admin")])
async def get_bot(project_id: str, principal: PrincipalDep, db: SessionDep) -> TelegramBotPublic:
    return await bots.public(db, await bots.existing(db, principal, project_id))


@router.put(BOT, dependencies=[needs("admin")])
async def put_bot(
    project_id: str,
    body: TelegramBotUpdate,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
) -> TelegramBotPublic:
    """Set up or change the bot; the token is checked with Telegram first and never returned."""
    bot = await telegram_actions.save(db, hub, principal, actor, project_id, body)
    return await bots.public(db, bot)


@router.delete(BOT, status_code=204, dependencies=[needs("admin")])
async def delete_bot(
    project_id: str, principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> Response:
    await telegram_actions.remove(db, hub, principal, actor, project_id)
    return Response(status_code=204)


@router.post("/api/v1/telegram/link-codes", status_code=201, dependencies=[LOGIN_ONLY])
async def new_link_code(
    body: LinkCodeCreate, principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> LinkCodePublic:
    """A one-time code (10 minutes) that links the caller's Telegram chat to the project's bot."""
    return await telegram_actions.new_link_code(db, hub, principal, actor, body.project_id)


@router.delete("/api/v1/telegram/links/{link_id}", status_code=204, dependencies=[LOGIN_ONLY])
async def unlink(
    link_id: str, principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> Response:
    await telegram_actions.unlink(db, hub, principal, actor, link_id)
    return Response(status_code=204)


@router.post(
    "/api/v1/telegram/webhook/{bot_id}",
    dependencies=[PUBLIC],
    include_in_schema=False,
)
async def webhook(
    bot_id: str,
    hub: HubDep,
    update: Annotated[dict[str, Any], Body()],
    x_telegram_bot_api_secret_token: Annotated[str | None, Header(max_length=256)] = None,
) -> Response:
    """Telegram's delivery of one update; the secret token it sends back proves the sender."""
    await telegram_updates.receive(hub, bot_id, x_telegram_bot_api_secret_token or "", update)
    return Response(status_code=200)
