"""The events the hub tells other tools about (webhooks, Telegram, email), and their payloads.

A webhook body is ``WebhookPayload``: Standard Webhooks' ``{type, timestamp, data}``. The
JSON Schema of every payload is in ``docs/webhook-events.schema.json`` (generated from these
models; a test keeps it current)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

EventType = Literal[
    "task.created",
    "task.assigned",
    "task.status_changed",
    "task.completed",
    "task.failed",
    "intervention.created",
    "intervention.responded",
    "session.started",
    "session.closed",
    "server.online",
    "server.offline",
    "approval.requested",
    "approval.decided",
]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskData(_Data):
    id: str
    project_id: str
    title: str
    status: str
    priority: str
    type: str
    external_ref: str | None = None
    assigned_server_id: str | None = None
    assigned_session_id: str | None = None
    error: str | None = None
    created_at: datetime
    updated_at: datetime


class TaskEventData(_Data):
    task: TaskData
    # task.status_changed: the status it left; None on every other task event.
    previous_status: str | None = None
    actor: str = Field(description="who made the change: a user's email, a session, or the hub")


class InterventionData(_Data):
    id: str
    project_id: str
    task_id: str | None = None
    session_id: str | None = None
    type: str
    question: str
    urgency: str
    status: str
    response: str | None = None
    responder: str | None = None
    created_at: datetime
    responded_at: datetime | None = None


class InterventionEventData(_Data):
    intervention: InterventionData


class SessionData(_Data):
    id: str
    project_id: str
    server_id: str
    name: str
    agent_type: str | None = None
    role: str = Field(default="worker", description="worker or orchestrator")
    status: str
    exit_code: int | None = None
    error: str | None = Field(default=None, description="why it ended, when the hub knows")
    started_at: datetime | None = None
    ended_at: datetime | None = None


SessionEndReason = Literal["exited", "lost", "killed"]


class SessionEventData(_Data):
    session: SessionData
    # session.closed: the process ended by itself (exited), a person or stop-all killed it
    # (killed), or its server lost it (lost); None on session.started.
    reason: SessionEndReason | None = None


class ServerData(_Data):
    id: str
    project_id: str
    name: str
    hostname: str
    status: str = Field(description="online, disconnected, or removed")
    last_seen_at: datetime | None = None


class ServerEventData(_Data):
    server: ServerData


class ApprovalData(_Data):
    id: str
    project_id: str
    server_id: str
    session_id: str | None = None
    agent: str | None = None
    tool: str
    main_param: str | None = None
    status: str
    reason: str | None = None
    decided_by: str | None = None
    created_at: datetime
    decided_at: datetime | None = None
    expires_at: datetime


class ApprovalEventData(_Data):
    approval: ApprovalData


EventData = Annotated[
    TaskEventData | InterventionEventData | SessionEventData | ServerEventData | ApprovalEventData,
    Field(union_mode="left_to_right"),
]


class WebhookPayload(BaseModel):
    """The body of every webhook request (Standard Webhooks' recommended envelope)."""

    type: EventType
    timestamp: datetime
    data: EventData


# --- notifications to people ---------------------------------------------------------------------

NotifyChannel = Literal["telegram", "email"]
NOTIFY_CHANNELS: tuple[NotifyChannel, ...] = get_args(NotifyChannel)
# What a person is told about: the moments someone must act or wants to know. A plan review is
# a ``task.status_changed`` into ``plan_review``; other status changes never notify people.
NOTIFIABLE_EVENTS: tuple[EventType, ...] = (
    "intervention.created",
    "approval.requested",
    "task.status_changed",
    "task.completed",
    "task.failed",
)
# A user with no preference row for a channel gets these.
DEFAULT_NOTIFY: dict[NotifyChannel, tuple[EventType, ...]] = {
    "telegram": NOTIFIABLE_EVENTS,
    "email": ("intervention.created", "task.failed"),
}
