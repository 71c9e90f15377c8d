"""The Telegram message for an integration event: text (Telegram HTML, every value escaped),
the inline buttons, and what a reply or a tap on it decides (``kind`` and ``target_id``)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.integration_models import IntegrationEvent
from orchestratia.hub.db.task_models import Intervention, Task

# What a message is about; a tap or a reply decides only on the first three.
Kind = str
INTERVENTION, APPROVAL, PLAN_REVIEW, INFO = "intervention", "approval", "plan_review", "info"
APPROVE, DENY = "approve", "deny"
REPLY_HINT = "<i>Reply to this message to answer.</i>"


@dataclass(frozen=True)
class Outgoing:
    text: str
    kind: Kind
    target_id: str
    markup: dict[str, Any] | None = None


def escape(value: object) -> str:
    """``value`` as Telegram HTML text (quotes need no escaping outside attributes)."""
    return html.escape(str(value), quote=False)


def buttons(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"inline_keyboard": [[{"text": label, "callback_data": data} for label, data in pairs]]}


def _clip(value: object, limit: int) -> str:
    text = str(value or "")
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


async def outgoing(db: AsyncSession, event: IntegrationEvent) -> Outgoing | None:
    """The message for ``event``, or None when Telegram says nothing about it (a status change
    other than into plan review)."""
    data: dict[str, Any] = event.data or {}
    if event.type == "intervention.created":
        item = data.get("intervention") or {}
        row = await db.get(Intervention, str(item.get("id", "")))
        if row is None or row.tenant_id != event.tenant_id:
            return None
        parts = [f"❓ <b>An agent asks ({escape(row.type)})</b>", _clip(row.question, 1500)]
        if row.context:
            parts.append(f"<i>{_clip(row.context, 1500)}</i>")
        parts.append(REPLY_HINT)
        return Outgoing("\n\n".join(parts), INTERVENTION, row.id)
    if event.type == "approval.requested":
        ask = data.get("approval") or {}
        who = escape(str(ask.get("agent") or "An agent"))
        text = f"🔐 <b>Approval needed</b>\n{who} wants to use <b>{_clip(ask.get('tool'), 200)}</b>"
        if ask.get("main_param"):
            text += f"\n<pre>{_clip(ask.get('main_param'), 2000)}</pre>"
        markup = buttons(("Approve", APPROVE), ("Deny", DENY))
        return Outgoing(text, APPROVAL, str(ask.get("id", "")), markup)
    task_data = data.get("task") or {}
    title = _clip(task_data.get("title"), 300)
    if event.type == "task.status_changed" and task_data.get("status") == "plan_review":
        task = await db.get(Task, str(task_data.get("id", "")))
        if task is None or task.tenant_id != event.tenant_id:
            return None
        summary = _clip((task.plan or {}).get("summary", ""), 2500)
        text = (
            f"📝 <b>Plan to review</b>: {title}\n\n{summary}\n\n"
            "<i>Reply to this message with feedback to ask for a revision.</i>"
        )
        return Outgoing(text, PLAN_REVIEW, task.id, buttons(("Approve plan", APPROVE)))
    if event.type == "task.completed":
        return Outgoing(f"✅ <b>Task done</b>: {title}", INFO, str(task_data.get("id", "")))
    if event.type == "task.failed":
        error = _clip(task_data.get("error"), 1500)
        text = f"❌ <b>Task failed</b>: {title}" + (f"\n{error}" if error else "")
        return Outgoing(text, INFO, str(task_data.get("id", "")))
    return None
