"""The events the hub tells other tools about (webhooks, Telegram, email), and their payloads.

A webhook body is ``WebhookPayload``: Standard Webhooks' ``{type, timestamp, data}``. The
JSON Schema of every payload is in ``docs/webhook-events.schema.json`` (generated from these
models; a test keeps it current)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import models_json_schema

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


# The payload model of each event type.
EVENT_DATA: dict[EventType, type[BaseModel]] = {
    "task.created": TaskEventData,
    "task.assigned": TaskEventData,
    "task.status_changed": TaskEventData,
    "task.completed": TaskEventData,
    "task.failed": TaskEventData,
    "intervention.created": InterventionEventData,
    "intervention.responded": InterventionEventData,
    "session.started": SessionEventData,
    "session.closed": SessionEventData,
    "server.online": ServerEventData,
    "server.offline": ServerEventData,
    "approval.requested": ApprovalEventData,
    "approval.decided": ApprovalEventData,
}


class WebhookPayload(BaseModel):
    """The body of every webhook request (Standard Webhooks' recommended envelope)."""

    type: EventType
    timestamp: datetime
    data: EventData

    @model_validator(mode="after")
    def _data_fits_type(self) -> WebhookPayload:
        wanted = EVENT_DATA[self.type]
        if not isinstance(self.data, wanted):
            raise ValueError(f"{self.type} carries {wanted.__name__}")
        return self


def webhook_schema() -> dict[str, Any]:
    """The JSON Schema of a webhook body, one variant per event type (what
    ``docs/webhook-events.schema.json`` holds)."""
    models = sorted(set(EVENT_DATA.values()), key=lambda m: m.__name__)
    refs, shared = models_json_schema(
        [(model, "serialization") for model in models], ref_template="#/$defs/{model}"
    )
    variants = [
        {
            "title": type,
            "type": "object",
            "properties": {
                "type": {"const": type},
                "timestamp": {"type": "string", "format": "date-time"},
                "data": refs[(EVENT_DATA[type], "serialization")],
            },
            "required": ["type", "timestamp", "data"],
            "additionalProperties": False,
        }
        for type in EVENT_TYPES
    ]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Orchestratia webhook event",
        "description": (
            "The body of every webhook request: Standard Webhooks' {type, timestamp, data}. "
            "Generated from orchestratia.protocol.integration_events; see docs/webhooks.md."
        ),
        "oneOf": variants,
        "$defs": shared["$defs"],
    }


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
