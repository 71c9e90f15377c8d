"""REST bodies of the approval endpoints (docs/approvals.md): the rules API and its tester, tool
calls waiting for a person, and the permission log as the dashboard reads it. Rule and log
entry shapes themselves live in ``orchestratia.protocol.approvals``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from orchestratia.protocol.approvals import (
    AGENT_NAME,
    ApprovalRule,
    DecidedBy,
    PermissionDecision,
    RuleAction,
)
from orchestratia.protocol.numbers import NonNegInt32
from orchestratia.protocol.rest import JsonObject, StrictBody

ApprovalStatus = Literal["pending", "approved", "denied", "expired"]
OptionalId = Field(default=None, min_length=1, max_length=64)


class ApprovalRulePublic(ApprovalRule):
    """A rule as the dashboard lists it: the cached shape plus who made it and when.
    ``session_id`` is set on session rules (made from the inbox)."""

    created_by: str
    created_at: datetime
    updated_at: datetime
    session_id: str | None = None


class ApprovalRuleList(BaseModel):
    rules: list[ApprovalRulePublic]


class RuleTestRequest(StrictBody):
    """ "Would this match?": a tool call judged against the tenant's rules as the hook on that
    server (in that project, in that session) would judge it."""

    agent: str = Field(pattern=AGENT_NAME)
    tool: str = Field(min_length=1, max_length=256)
    tool_input: JsonObject = Field(default_factory=dict)
    server_id: str | None = OptionalId
    project_id: str | None = OptionalId
    session_id: str | None = OptionalId


class RuleTestResult(BaseModel):
    action: RuleAction
    rule_id: str | None
    rule_name: str | None
    reason: str
    decided_by: DecidedBy


class ToolApprovalCreate(StrictBody):
    """The hook's request for a person to decide a tool call a rule sent to ``ask``. A server
    key may name the session (one of its own); a session token always acts for its session."""

    session_id: str | None = OptionalId
    agent: str = Field(pattern=AGENT_NAME)
    tool: str = Field(min_length=1, max_length=256)
    tool_input: JsonObject = Field(default_factory=dict)
    rule_id: str | None = OptionalId
    reason: str | None = Field(default=None, max_length=2_000)
    # How long the asking hook will wait: the item leaves the inbox when nobody can still act on
    # the answer (the hub's own limit applies when this is longer or absent).
    wait_seconds: int | None = Field(default=None, ge=1, le=86_400)


class ToolApprovalCreated(BaseModel):
    id: str
    status: ApprovalStatus
    expires_at: datetime


class ToolApprovalState(BaseModel):
    """Where a tool call stands; ``reason`` is what the deciding person said (or why it was
    asked, while pending), for the agent to read."""

    id: str
    status: ApprovalStatus
    reason: str | None
    decided_by: str | None
    decided_at: datetime | None
    expires_at: datetime


class PermissionLogStored(BaseModel):
    stored: NonNegInt32
    duplicates: NonNegInt32


class PermissionEntryPublic(BaseModel):
    id: str
    project_id: str
    server_id: str
    server_name: str | None
    session_id: str | None
    session_name: str | None
    agent: str
    tool: str
    tool_input: JsonObject
    decision: PermissionDecision
    matched_rule_id: str | None
    decided_by: DecidedBy
    reason: str | None
    created_at: datetime


class DecisionCounts(BaseModel):
    allowed: NonNegInt32 = 0
    denied: NonNegInt32 = 0
    asked: NonNegInt32 = 0


class DecisionBucket(DecisionCounts):
    start: datetime


class PermissionLogPage(BaseModel):
    """The newest ``entries`` (up to the limit); ``counts`` and ``buckets`` cover every
    matching decision since ``since``, in buckets of ``bucket_seconds``."""

    entries: list[PermissionEntryPublic]
    counts: DecisionCounts
    buckets: list[DecisionBucket]
    bucket_seconds: NonNegInt32
    since: datetime
