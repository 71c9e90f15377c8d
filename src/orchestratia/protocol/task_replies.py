"""Task replies (SPEC §3-4): the task as every client reads it, its notes, events and the
replies of the actions that return more than a task."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from orchestratia.protocol.numbers import NonNegInt32
from orchestratia.protocol.rest import JsonObject
from orchestratia.protocol.tasks import (
    ApprovalStatus,
    DependencyType,
    LostSessionPolicy,
    Priority,
    TaskStatus,
    TaskType,
)


class DependencyPublic(BaseModel):
    id: str
    task_id: str
    depends_on_task_id: str
    depends_on_title: str | None = None
    depends_on_status: str | None = None
    dependency_type: DependencyType
    contract_key: str | None
    resolved: bool
    resolved_at: datetime | None
    contract_status: Literal["none", "waiting", "received", "missing", "upstream_failed"] = "none"


class BlockerPublic(BaseModel):
    task_id: str
    title: str
    status: str
    dependency_type: DependencyType


class TaskPublic(BaseModel):
    """The task as every client reads it; field names follow the public CLI where it has one."""

    id: str
    project_id: str
    pipeline_id: str | None
    title: str
    spec: str
    structured_spec: JsonObject | None
    status: TaskStatus
    priority: Priority
    type: TaskType
    target_repo: str | None
    target_branch: str | None
    acceptance_criteria: list[str]
    labels: list[str]
    external_ref: str | None
    assigned_session_id: str | None
    target_session_name: str | None
    assigned_server_id: str | None
    assigned_server_name: str | None
    source_session_id: str | None
    source_session_name: str | None
    # The session that exited or was lost holding this task; set until it is assigned again.
    session_lost: bool = False
    lost_session_id: str | None = None
    lost_session_name: str | None = None
    created_by: str | None
    require_plan: bool
    plan: JsonObject | None
    plan_feedback: str | None
    result: JsonObject | None
    error: str | None
    resolved_inputs: JsonObject
    missing_contracts: list[str]
    git_diff_stats: JsonObject | None
    assignment_reason: JsonObject | None
    epoch: NonNegInt32
    approval_status: ApprovalStatus
    pending_approval: bool
    blocked: bool
    blocked_by: list[BlockerPublic]
    dependencies: list[DependencyPublic]
    created_at: datetime
    updated_at: datetime
    assigned_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None


class TaskList(BaseModel):
    tasks: list[TaskPublic]
    count: NonNegInt32


class NotePublic(BaseModel):
    id: str
    task_id: str
    author: str
    content: str
    urgent: bool
    created_at: datetime
    delivered_at: datetime | None


class NoteList(BaseModel):
    notes: list[NotePublic]


class TaskEventPublic(BaseModel):
    id: str
    task_id: str | None
    project_id: str
    kind: str
    actor: str
    summary: str
    details: JsonObject
    created_at: datetime


class TaskEventList(BaseModel):
    events: list[TaskEventPublic]


class HelpResponse(BaseModel):
    intervention_id: str
    status: str
    task: TaskPublic


class CancelResponse(BaseModel):
    cancelled: bool
    task_id: str
    task: TaskPublic


class TaskSettingsPublic(BaseModel):
    auto_assign: bool
    require_task_approval: bool
    lost_session_policy: LostSessionPolicy


class InterventionPublic(BaseModel):
    """A question an agent asked a person; times are ``datetime.isoformat()`` text."""

    id: str
    task_id: str | None
    session_id: str | None
    project_id: str
    type: str
    question: str
    context: str | None
    urgency: str
    status: str
    response: str | None
    responder: str | None
    created_at: str
    responded_at: str | None


class InterventionList(BaseModel):
    interventions: list[InterventionPublic]
