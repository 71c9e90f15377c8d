"""What a notification mail says for each notifiable event: a subject, a few lines and a link to
the item on the dashboard. Every value an agent or a person wrote is capped and has hub tokens
masked; nothing else from the hub (keys, settings) is ever put in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ValidationError

from orchestratia.protocol.integration_events import (
    ApprovalEventData,
    InterventionEventData,
    TaskEventData,
)
from orchestratia.protocol.notification_preferences import EVENT_LABELS
from orchestratia.protocol.tokens import mask_tokens

SUBJECT_CHARS = 100
TEXT_CHARS = 2000


class NothingToTell(Exception):
    """The event is not one this channel tells people about (the text says why)."""


@dataclass(frozen=True)
class Notice:
    subject: str
    lines: list[str]
    link: str


def _clean(text: str | None, limit: int = TEXT_CHARS) -> str:
    masked = mask_tokens(text or "")
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"


def _subject(project: str, what: str, detail: str) -> str:
    # One line: a header cannot hold line breaks, and a mail client shows only the start.
    line = " ".join(f"[{project}] {what}: {_clean(detail, SUBJECT_CHARS)}".split())
    return line if len(line) <= SUBJECT_CHARS + 40 else line[: SUBJECT_CHARS + 39] + "…"


def _parse(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError:
        raise NothingToTell("the event's data is not in the expected shape") from None


def _label(type: str) -> str:
    return next(label for event, label in EVENT_LABELS.items() if event == type)


def _inbox(base: str, project_id: str) -> str:
    return f"{base}/inbox?{urlencode({'project_id': project_id})}"


def _task(base: str, task_id: str) -> str:
    return f"{base}/tasks/{quote(task_id, safe='')}"


def _intervention(base: str, project: str, data: dict[str, Any]) -> Notice:
    item = _parse(InterventionEventData, data).intervention
    what = EVENT_LABELS["intervention.created"]
    return Notice(
        _subject(project, what, item.question),
        [f"{what} in the project {project} ({item.urgency}):", _clean(item.question)],
        _inbox(base, item.project_id),
    )


def _approval(base: str, project: str, data: dict[str, Any]) -> Notice:
    item = _parse(ApprovalEventData, data).approval
    what = EVENT_LABELS["approval.requested"]
    call = f"{item.tool}: {item.main_param}" if item.main_param else item.tool
    expiry = item.expires_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Notice(
        _subject(project, what, item.tool),
        [
            f"{what} in the project {project}"
            + (f", from {_clean(item.agent, 100)}" if item.agent else "")
            + ":",
            _clean(call),
            f"Unanswered, it is refused at {expiry}.",
        ],
        _inbox(base, item.project_id),
    )


def _task_notice(base: str, project: str, type: str, data: dict[str, Any]) -> Notice:
    event = _parse(TaskEventData, data)
    task = event.task
    if type == "task.status_changed" and task.status != "plan_review":
        raise NothingToTell(f"a change to {task.status} is not something people are told about")
    what = _label(type)
    lines = [f"{what} in the project {project}:", _clean(task.title, 300)]
    if type == "task.failed" and task.error:
        lines.append(f"Error: {_clean(task.error)}")
    return Notice(_subject(project, what, task.title), lines, _task(base, task.id))


def notice(base: str, project: str, type: str, data: dict[str, Any]) -> Notice:
    """The mail for event ``type`` with ``data`` in ``project``; NothingToTell if none."""
    if type == "intervention.created":
        return _intervention(base, project, data)
    if type == "approval.requested":
        return _approval(base, project, data)
    if type in ("task.status_changed", "task.completed", "task.failed"):
        return _task_notice(base, project, type, data)
    raise NothingToTell(f"{type} is not an event people are notified of")
