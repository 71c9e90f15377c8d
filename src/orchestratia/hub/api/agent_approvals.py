"""Agent API for approvals (docs/approvals.md), ``X-API-Key`` (server key or session token):
the rule set a daemon caches, tool calls waiting for a person, and the permission log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query

from orchestratia.hub.actions import approvals
from orchestratia.hub.api.callers import AgentCallerDep
from orchestratia.hub.api.deps import HubDep, SessionDep
from orchestratia.hub.api.scopes import SERVER_KEY
from orchestratia.hub.errors import Forbidden
from orchestratia.hub.services.approvals import rule_sets, tool_approvals
from orchestratia.protocol.approval_api import (
    PermissionLogStored,
    ToolApprovalCreate,
    ToolApprovalCreated,
    ToolApprovalState,
)
from orchestratia.protocol.approvals import PermissionLogBatch, RuleSet
from orchestratia.rules.public_rules import PublicApprovalRule, public_rules

router = APIRouter(prefix="/api/v1/server", tags=["agent"], dependencies=[SERVER_KEY])


@router.get("/approval-rules")
async def approval_rules(
    caller: AgentCallerDep,
    db: SessionDep,
    x_orchestratia_protocol: Annotated[int | None, Header(ge=1, le=1_000)] = None,
) -> RuleSet | list[PublicApprovalRule]:
    """Our daemon (it sends ``X-Orchestratia-Protocol: 2`` or later, or announced protocol 2+ on its
    socket, or calls with a session token) gets the ``RuleSet``; the public agent the list its
    hook walks (``protocol.public_rules``)."""
    if caller.server is None:
        raise Forbidden("approval rules are served to daemons")
    rule_set = await rule_sets.for_server(db, caller.server)
    ours = (x_orchestratia_protocol or 1) >= 2 or caller.server.protocol >= 2
    if ours or caller.session is not None:
        return rule_set
    return public_rules(rule_set.rules)


@router.post("/approvals", status_code=201)
async def raise_approval(
    body: ToolApprovalCreate, caller: AgentCallerDep, db: SessionDep, hub: HubDep
) -> ToolApprovalCreated:
    row = await approvals.raise_approval(db, hub, caller, body)
    return ToolApprovalCreated(id=row.id, status="pending", expires_at=row.expires_at)


@router.get("/approvals/{approval_id}")
async def approval_state(
    approval_id: str,
    caller: AgentCallerDep,
    db: SessionDep,
    hub: HubDep,
    wait: Annotated[float, Query(ge=0, le=tool_approvals.MAX_WAIT)] = 0,
) -> ToolApprovalState:
    row = await tool_approvals.wait(db, caller, approval_id, wait, hub.approval_waiters)
    return tool_approvals.state(row)


@router.post("/permissions/log", status_code=201)
async def log_permissions(
    body: PermissionLogBatch, caller: AgentCallerDep, db: SessionDep, hub: HubDep
) -> PermissionLogStored:
    result = await approvals.log_permissions(db, hub, caller, body)
    return PermissionLogStored(stored=result.stored, duplicates=result.duplicates)
