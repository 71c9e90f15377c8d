"""Which events reach a user by Telegram and by email (``/api/v1/account/notifications``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from orchestratia.protocol.integration_events import NOTIFIABLE_EVENTS, EventType
from orchestratia.protocol.rest import StrictBody

# What a person reads for each notifiable event (the account page's rows, mail subjects).
EVENT_LABELS: dict[EventType, str] = {
    "intervention.created": "An agent asks for help",
    "approval.requested": "A tool call needs approval",
    "task.status_changed": "A plan waits for review",
    "task.completed": "A task completed",
    "task.failed": "A task failed",
}


class NotificationPreferences(BaseModel):
    telegram: list[EventType]
    email: list[EventType]
    # The projects whose Telegram bot this user has linked a chat to (none: nothing arrives).
    telegram_linked: list[str]
    # Whether the team has a mail server configured (none: no mail goes out).
    email_available: bool


def _notifiable(events: list[str] | None) -> list[str] | None:
    """Each event once, and only events that notify people; the error names the culprit."""
    if events is None:
        return None
    seen: set[str] = set()
    for event in events:
        if event not in NOTIFIABLE_EVENTS:
            allowed = ", ".join(NOTIFIABLE_EVENTS)
            raise ValueError(f"{event!r} is not an event people are notified of ({allowed})")
        if event in seen:
            raise ValueError(f"{event!r} is listed twice")
        seen.add(event)
    return events


class NotificationPreferencesChange(StrictBody):
    """The new event lists; a channel left out keeps its current one."""

    telegram: list[str] | None = Field(default=None, max_length=len(NOTIFIABLE_EVENTS) * 2)
    email: list[str] | None = Field(default=None, max_length=len(NOTIFIABLE_EVENTS) * 2)

    _check = field_validator("telegram", "email")(_notifiable)
