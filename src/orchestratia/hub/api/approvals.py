"""Dashboard / External API for approval rules, their tester and the permission log
(docs/approvals.md). Bearer token or cookie + CSRF."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from orchestratia.hub.actions import approvals
from orchestratia.hub.api.callers import UserCallerDep
from orchestratia.hub.api.deps import HubDep, SessionDep
from orchestratia.hub.api.scopes import needs
from orchestratia.hub.services.approvals import permission_log, rule_sets
from orchestratia.hub.services.approvals import rules as approval_rules
from orchestratia.protocol.approval_api import (
    ApprovalRuleList,
    ApprovalRulePublic,
    PermissionLogPage,
    RuleTestRequest,
    RuleTestResult,
)
from orchestratia.protocol.approvals import (
    ApprovalRuleUpdate,
    PermissionDecision,
)
from orchestratia.rules.patterns import CheckedRuleCreate

router = APIRouter(tags=["approvals"])
OptionalId = Annotated[str | None, Query(min_length=1, max_length=64)]


@router.get("/api/v1/approval-rules", dependencies=[needs("admin")])
async def list_rules(caller: UserCallerDep, db: SessionDep) -> ApprovalRuleList:
    rows = await approval_rules.list_rules(db, caller)
    return ApprovalRuleList(rules=[approval_rules.to_public(r) for r in rows])


@router.post("/api/v1/approval-rules", status_code=201, dependencies=[needs("admin")])
async def create_rule(
    body: CheckedRuleCreate, caller: UserCallerDep, db: SessionDep, hub: HubDep
) -> ApprovalRulePublic:
    row = await approvals.create_rule(db, hub, caller, body)
    return approval_rules.to_public(row)


@router.post("/api/v1/approval-rules/test", dependencies=[needs("admin")])
async def test_rule(body: RuleTestRequest, caller: UserCallerDep, db: SessionDep) -> RuleTestResult:
    return await rule_sets.test(db, caller, body)


@router.patch("/api/v1/approval-rules/{rule_id}", dependencies=[needs("admin")])
async def update_rule(
    rule_id: str, body: ApprovalRuleUpdate, caller: UserCallerDep, db: SessionDep, hub: HubDep
) -> ApprovalRulePublic:
    try:
        row = await approvals.update_rule(db, hub, caller, rule_id, body)
    except ValidationError as exc:
        # The merged rule failed as a whole: report it like any other body error, by field.
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        ) from None
    return approval_rules.to_public(row)


@router.delete("/api/v1/approval-rules/{rule_id}", status_code=204, dependencies=[needs("admin")])
async def delete_rule(rule_id: str, caller: UserCallerDep, db: SessionDep, hub: HubDep) -> Response:
    await approvals.delete_rule(db, hub, caller, rule_id)
    return Response(status_code=204)


@router.get("/api/v1/permissions", dependencies=[needs("sessions:read")])
async def permissions(
    caller: UserCallerDep,
    db: SessionDep,
    project_id: OptionalId = None,
    server_id: OptionalId = None,
    session_id: OptionalId = None,
    tool: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    decision: Annotated[PermissionDecision | None, Query()] = None,
    since: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> PermissionLogPage:
    q = permission_log.LogQuery(project_id, server_id, session_id, tool, decision, since, limit)
    return await permission_log.query(db, caller, q)
