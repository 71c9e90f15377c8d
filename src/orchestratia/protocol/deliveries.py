"""Messages the hub asks a daemon to deliver into a session (SPEC §3 "Delivery to the agent").

Frame names and their public fields follow the public agent; ``delivery_id``, ``epoch`` and
``urgent`` are our extensions. A protocol-2 daemon types the message into the session when it
is safe (never into a half-typed human line; normal messages wait for the terminal to be idle)
and answers ``delivery_ack``; until then the hub keeps the delivery and resends it after a
reconnect, and the daemon remembers what it typed so a resend is acknowledged, not retyped.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from orchestratia.protocol.base import Frame
from orchestratia.protocol.numbers import NonNegInt32

Id = Field(min_length=1, max_length=64)
Text = Field(default="", max_length=20_000)


class DeliveryFrame(Frame):
    session_id: str = Id
    delivery_id: str | None = Field(default=None, max_length=64)
    epoch: NonNegInt32 | None = None
    urgent: bool = False


class TaskAssignedFrame(DeliveryFrame):
    """Assigned, approved, unblocked or re-sent: the agent should run ``task check``."""

    type: Literal["task_assigned"] = "task_assigned"
    task_id: str = Id
    title: str = Field(max_length=300)
    priority: str = "normal"
    from_session_name: str | None = Field(default=None, max_length=120)
    pending_approval: bool = False
    require_plan: bool = False
    reason: Literal["assigned", "unblocked", "approved"] = "assigned"


class TaskApprovedFrame(DeliveryFrame):
    type: Literal["task_approved"] = "task_approved"
    task_id: str = Id
    title: str = Field(default="", max_length=300)


class TaskRejectedFrame(DeliveryFrame):
    type: Literal["task_rejected"] = "task_rejected"
    task_id: str = Id
    title: str = Field(default="", max_length=300)
    reason: str = Text


class TaskUpdatedFrame(DeliveryFrame):
    type: Literal["task_updated"] = "task_updated"
    task_id: str = Id
    title: str = Field(default="", max_length=300)
    changes: list[str] = Field(default_factory=list, max_length=20)


class TaskStatusUpdateFrame(DeliveryFrame):
    type: Literal["task_status_update"] = "task_status_update"
    task_id: str = Id
    status: str = Field(max_length=32)
    detail: str = Text


class TaskNoteFrame(DeliveryFrame):
    type: Literal["task_note"] = "task_note"
    task_id: str = Id
    content: str = Text
    author: str = Field(default="", max_length=320)


class NoteForSessionFrame(DeliveryFrame):
    type: Literal["note_for_session"] = "note_for_session"
    content: str = Text
    author: str = Field(default="", max_length=320)


class InterventionResponseFrame(DeliveryFrame):
    type: Literal["intervention_response"] = "intervention_response"
    task_id: str | None = Field(default=None, max_length=64)
    intervention_id: str | None = Field(default=None, max_length=64)
    response: str = Text


class PlanApprovedFrame(DeliveryFrame):
    type: Literal["plan_approved"] = "plan_approved"
    task_id: str = Id


class PlanRevisionFrame(DeliveryFrame):
    type: Literal["plan_revision"] = "plan_revision"
    task_id: str = Id
    feedback: str = Text


DeliveryMessage = Annotated[
    TaskAssignedFrame
    | TaskApprovedFrame
    | TaskRejectedFrame
    | TaskUpdatedFrame
    | TaskStatusUpdateFrame
    | TaskNoteFrame
    | NoteForSessionFrame
    | InterventionResponseFrame
    | PlanApprovedFrame
    | PlanRevisionFrame,
    Field(discriminator="type"),
]
delivery_adapter: TypeAdapter[DeliveryMessage] = TypeAdapter(DeliveryMessage)


class DeliveryAckFrame(Frame):
    """Daemon → hub: the message was typed into the session (or could not be, and why)."""

    type: Literal["delivery_ack"] = "delivery_ack"
    delivery_id: str = Id
    session_id: str = Id
    status: Literal["delivered", "failed"] = "delivered"
    detail: str = Field(default="", max_length=2000)
