"""What the bot does with one Telegram update (from a long poll or the webhook).

Only a linked chat, written from the linked Telegram account, is served; any other chat gets
nothing but, on ``/start`` without a valid code, a fixed hint how to link. Taps and replies
decide through the inbox exactly as the dashboard does (``actions.approvals.decide`` with a
``Caller`` for the linked person: their role applies and the audit log names them). Decision
ids come from the item and the action (a tap) or from the Telegram message (a reply), so an
update handled twice, or a button tapped twice, is one decision. Handling is therefore safe to
repeat, which is what lets the poller store its offset after handling."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions import approvals
from orchestratia.hub.db.integration_models import TelegramBot, TelegramMessage
from orchestratia.hub.db.models import Project, User
from orchestratia.hub.errors import NotFound
from orchestratia.hub.services import audit
from orchestratia.hub.services.inbox import items as inbox
from orchestratia.hub.services.integrations.telegram import commands, linking, render
from orchestratia.hub.services.integrations.telegram.bot_api import BotApi, TelegramError
from orchestratia.hub.services.integrations.telegram.render import escape
from orchestratia.hub.services.tasks.context import Caller
from orchestratia.hub.state import HubState
from orchestratia.protocol.inbox import InboxKind

log = logging.getLogger(__name__)

LINK_HINT = (
    "This chat is not linked to Orchestratia. Open the project's Telegram page in the "
    "dashboard, get a link code, and send /start &lt;code&gt; here."
)
NOT_LINKED = "This chat is not linked to Orchestratia."
# (message kind, button) → (inbox kind, inbox action)
_TAPS: dict[tuple[str, str], tuple[InboxKind, str]] = {
    (render.APPROVAL, render.APPROVE): ("tool_approval", "approve"),
    (render.APPROVAL, render.DENY): ("tool_approval", "deny"),
    (render.PLAN_REVIEW, render.APPROVE): ("plan_review", "approve"),
}
# A button's message may be a moment from being recorded: look again this often, this long.
RECORD_WAIT, RECORD_WAITS = 0.1, 20
_DONE = {"approve": "Approved", "deny": "Denied", "respond": "Answered"}


def caller_for(user: User) -> Caller:
    """The inbox's caller for a linked person, as the dashboard would build it for them."""
    actor = audit.Actor("user", user.email)
    return Caller(user.tenant_id, "user", user.email, actor, principal=linking.principal_for(user))


def decision_id(*parts: object) -> str:
    return "tg-" + hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:40]


async def handle(hub: HubState, bot: TelegramBot, api: BotApi, update: dict[str, Any]) -> None:
    """Act on one update; Telegram's own errors while answering are logged, not raised."""
    try:
        async with hub.sessionmaker() as db:
            if isinstance(update.get("callback_query"), dict):
                await _tap(db, hub, bot, api, update["callback_query"])
            elif isinstance(update.get("message"), dict):
                await _message(db, hub, bot, api, update["message"])
    except TelegramError as exc:
        log.warning("telegram bot %s: answering update failed: %s", bot.id, exc)
    except Exception:
        # One update that trips a bug must not hold up every later one (the offset moves on).
        log.exception("telegram bot %s: update %s failed", bot.id, update.get("update_id"))


def _ids(message: dict[str, Any], sender: dict[str, Any] | None) -> tuple[int, int] | None:
    chat, who = message.get("chat") or {}, sender or {}
    if isinstance(chat.get("id"), int) and isinstance(who.get("id"), int):
        return chat["id"], who["id"]
    return None


async def _decide(
    db: AsyncSession, hub: HubState, user: User, decision: inbox.Decision
) -> tuple[str, str]:
    [(outcome, detail)] = await approvals.decide(db, hub, caller_for(user), [decision])
    return outcome, detail


async def _about(
    db: AsyncSession, bot: TelegramBot, chat: int, message_id: int, *, wait: bool = False
) -> TelegramMessage | None:
    """What the bot's message ``message_id`` was about. The person sees a message as soon as
    Telegram has it, a moment before the sender records it: a quick tap (``wait``) allows
    for that."""
    query = select(TelegramMessage).where(
        TelegramMessage.bot_id == bot.id,
        TelegramMessage.chat_id == chat,
        TelegramMessage.message_id == message_id,
    )
    for _ in range(RECORD_WAITS if wait else 0):
        found = await db.scalar(query)
        if found is not None:
            return found
        await asyncio.sleep(RECORD_WAIT)
    return await db.scalar(query)


async def _tap(
    db: AsyncSession, hub: HubState, bot: TelegramBot, api: BotApi, query: dict[str, Any]
) -> None:
    message = query.get("message") or {}
    ids = _ids(message, query.get("from"))
    query_id = str(query.get("id", ""))
    user = await linking.linked_user(db, bot, *ids) if ids else None
    if ids is None or user is None:
        await api.answer_callback(query_id, NOT_LINKED)
        return
    chat = ids[0]
    about = await _about(db, bot, chat, int(message.get("message_id", 0)), wait=True)
    tap = _TAPS.get((about.kind, str(query.get("data")))) if about else None
    if about is None or tap is None:
        await api.answer_callback(query_id, "There is nothing to decide on this message.")
        return
    kind, action = tap
    # Read before deciding: a refused decision rolls the session back, expiring loaded rows.
    card, email = about.message_id, user.email
    decision = inbox.Decision(
        kind,
        about.target_id,
        decision_id(kind, about.target_id, action),
        action,  # type: ignore[arg-type]
    )
    outcome, detail = await _decide(db, hub, user, decision)
    if outcome == "applied":
        await api.answer_callback(query_id, f"{_DONE[action]}.")
        said = escape(str(message.get("text") or ""))
        await api.edit_text(chat, card, f"{said}\n\n<b>{_DONE[action]}</b> by {escape(email)}")
    elif outcome == "already_applied":
        await api.answer_callback(query_id, "already_applied: this was decided already.")
    else:
        await api.answer_callback(query_id, f"refused: {detail}")


async def _message(
    db: AsyncSession, hub: HubState, bot: TelegramBot, api: BotApi, message: dict[str, Any]
) -> None:
    ids = _ids(message, message.get("from"))
    text = str(message.get("text") or "").strip()
    if ids is None:
        return
    chat, sender = ids
    command, _, argument = text.partition(" ")
    command = command.split("@", 1)[0].lower()  # /status@my_bot in groups
    argument = argument.strip()
    if command in ("/start", "/link"):
        await _link(db, bot, api, message, argument)
        return
    user = await linking.linked_user(db, bot, chat, sender)
    if user is None:
        return  # an unlinked chat gets nothing
    project = await db.get(Project, bot.project_id)
    try:
        await caller_for(user).project(db, bot.project_id, write=False)
    except NotFound:
        await api.send_message(chat, "You no longer have access to this project.")
        return
    reply_to = message.get("reply_to_message") or {}
    if isinstance(reply_to.get("message_id"), int) and text:
        await _reply(db, hub, bot, api, user, message, reply_to["message_id"], text)
    elif command == "/status" and project is not None:
        await api.send_message(chat, await commands.status(db, project.id, project.name))
    elif command == "/screen":
        await api.send_message(chat, await commands.screen(db, bot.project_id, argument))
    else:
        await api.send_message(chat, commands.HELP)


async def _link(
    db: AsyncSession, bot: TelegramBot, api: BotApi, message: dict[str, Any], code: str
) -> None:
    sender = message.get("from") or {}
    chat = int((message.get("chat") or {}).get("id", 0))
    user = None
    if code and isinstance(sender.get("id"), int):
        user = await linking.redeem(db, bot, code, chat, sender["id"], sender.get("username"))
        await db.commit()
    if user is None:
        already = await linking.linked_user(db, bot, chat, int(sender.get("id", 0)))
        await api.send_message(chat, commands.HELP if already else LINK_HINT)
        return
    project = await db.get(Project, bot.project_id)
    name = escape(project.name if project else "the project")
    await api.send_message(
        chat, f"Linked to <b>{name}</b> as {escape(user.email)}.\n\n{commands.HELP}"
    )


async def _reply(
    db: AsyncSession,
    hub: HubState,
    bot: TelegramBot,
    api: BotApi,
    user: User,
    message: dict[str, Any],
    replied_to: int,
    text: str,
) -> None:
    chat, own_id = int(message["chat"]["id"]), int(message.get("message_id", 0))
    about = await _about(db, bot, chat, replied_to)
    if about is None or about.kind not in (render.INTERVENTION, render.PLAN_REVIEW):
        await api.send_message(chat, "That message cannot be answered.", reply_to=own_id)
        return
    key = decision_id("reply", bot.id, chat, own_id)
    answers = about.kind == render.INTERVENTION  # read now: a refusal expires loaded rows
    if answers:
        decision = inbox.Decision("intervention", about.target_id, key, "respond", response=text)
    else:
        decision = inbox.Decision("plan_review", about.target_id, key, "deny", feedback=text)
    outcome, detail = await _decide(db, hub, user, decision)
    said = {
        "applied": "Answer sent to the agent." if answers else "Revision requested.",
        "already_applied": "already_applied: this answer was sent before.",
    }.get(outcome, f"refused: {escape(detail)}")
    await api.send_message(chat, said, reply_to=own_id)
