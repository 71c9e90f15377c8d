"""Inbox replies (docs/approvals.md): what waits for a person, one item shape per kind, and the
outcome of each decision sent in bulk."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from orchestratia.protocol.rest import JsonObject

InboxKind = Literal["intervention", "plan_review", "task_approval", "tool_approval", "session_lost"]
DecisionOutcome = Literal["applied", "already_applied", "conflict", "not_found"]


class InboxItemBase(BaseModel):
    """What every item has; times are ``datetime.isoformat()`` text."""

    kind: InboxKind
    id: str
    project_id: str
    task_id: str | None
    session_id: str | None
    session_name: str | None
    server_id: str | None
    server_name: str | None
    title: str
    detail: str
    created_at: str


class InterventionItem(InboxItemBase):
    kind: Literal["intervention"]
    type: str
    urgency: str


class PlanReviewItem(InboxItemBase):
    kind: Literal["plan_review"]
    plan: JsonObject | None
    epoch: int


class TaskApprovalItem(InboxItemBase):
    kind: Literal["task_approval"]
    created_by: str | None
    priority: str


class ToolApprovalItem(InboxItemBase):
    kind: Literal["tool_approval"]
    agent: str
    tool_input: JsonObject
    expires_at: str


class SessionLostItem(InboxItemBase):
    kind: Literal["session_lost"]
    policy: str | None  # the lost-session policy the timeline entry recorded
    task_status: str


InboxItem = Annotated[
    InterventionItem | PlanReviewItem | TaskApprovalItem | ToolApprovalItem | SessionLostItem,
    Field(discriminator="kind"),
]


class InboxList(BaseModel):
    items: list[InboxItem]


class DecisionResult(BaseModel):
    id: str
    decision_id: str
    outcome: DecisionOutcome
    detail: str


class DecisionResults(BaseModel):
    results: list[DecisionResult]
