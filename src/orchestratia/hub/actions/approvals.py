"""Approvals: the inbox's decisions, tool calls raised by daemons, the permission log they ship,
and approval rules (each change pushed to the tenant's daemons)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions.effects import after_commit
from orchestratia.hub.actions.transaction import run
from orchestratia.hub.db.approval_models import ApprovalRule, ToolApproval
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.projects import list_for
from orchestratia.hub.services.approvals import permission_log, tool_approvals
from orchestratia.hub.services.approvals import rules as approval_rules
from orchestratia.hub.services.inbox import items as inbox
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.services.tasks.context import Caller
from orchestratia.hub.state import HubState
from orchestratia.protocol.approval_api import ToolApprovalCreate
from orchestratia.protocol.approvals import (
    ApprovalRuleCreate,
    ApprovalRuleUpdate,
    PermissionLogBatch,
)
from orchestratia.protocol.dashboard_events import InboxUpdate, PermissionDecision
from orchestratia.protocol.inbox import DecisionOutcome


async def decide(
    db: AsyncSession, hub: HubState, caller: Caller, decisions: list[inbox.Decision]
) -> list[tuple[DecisionOutcome, str]]:
    """Each decision commits on its own, so one refused item never undoes the others; the
    outcome and detail of each, in order."""
    results: list[tuple[DecisionOutcome, str]] = []
    for decision in decisions:
        outbox = Outbox()
        outcome, detail = await inbox.decide(db, caller, decision, outbox, hub.approval_waiters)
        if outcome == "applied":
            await audit.record(
                db,
                caller.actor,
                "inbox.decided",
                tenant_id=caller.tenant_id,
                target_type=decision.kind,
                target_id=decision.id,
                details={"action": decision.action, "decision_id": decision.decision_id},
            )
            try:
                await db.commit()
            except IntegrityError:  # the same decision id raced in from a retry
                await db.rollback()
                outcome, detail = "already_applied", "decided by a concurrent request"
            else:
                await after_commit(hub, outbox)
        else:
            await db.rollback()
        results.append((outcome, detail))
    assert caller.principal is not None
    # An "allow for N minutes" answer made a session rule; every inbox the user sees changed.
    done = Outbox(rules_sync=True)
    for access in await list_for(db, caller.principal):
        done.notify(access.project.id, InboxUpdate())
    await after_commit(hub, done)
    return results


async def raise_approval(
    db: AsyncSession, hub: HubState, caller: Caller, body: ToolApprovalCreate
) -> ToolApproval:
    """A tool call waiting for a person: it joins the inbox."""

    async def work(outbox: Outbox) -> ToolApproval:
        row = await tool_approvals.create(db, caller, body, hub.settings.approval_timeout)
        outbox.notify(row.project_id, InboxUpdate())
        return row

    return await run(db, hub, work)


async def log_permissions(
    db: AsyncSession, hub: HubState, caller: Caller, body: PermissionLogBatch
) -> permission_log.Stored:
    """Store a daemon's batch of decisions once each; dashboards see the new ones live."""

    async def work(outbox: Outbox) -> permission_log.Stored:
        result = await permission_log.store(db, caller, body)
        for entry in result.entries:
            outbox.notify(entry.project_id, PermissionDecision(entry=entry))
        return result

    return await run(db, hub, work)


async def create_rule(
    db: AsyncSession, hub: HubState, caller: Caller, body: ApprovalRuleCreate
) -> ApprovalRule:
    async def work(outbox: Outbox) -> ApprovalRule:
        row, version = await approval_rules.create(db, caller, body)
        outbox.rule_versions.append((caller.tenant_id, version))
        return row

    return await run(db, hub, work)


async def update_rule(
    db: AsyncSession, hub: HubState, caller: Caller, rule_id: str, body: ApprovalRuleUpdate
) -> ApprovalRule:
    """Raises ``pydantic.ValidationError`` when the merged rule is invalid (nothing saved)."""

    async def work(outbox: Outbox) -> ApprovalRule:
        row, version = await approval_rules.update_rule(db, caller, rule_id, body)
        outbox.rule_versions.append((caller.tenant_id, version))
        return row

    return await run(db, hub, work)


async def delete_rule(db: AsyncSession, hub: HubState, caller: Caller, rule_id: str) -> None:
    async def work(outbox: Outbox) -> None:
        version = await approval_rules.delete(db, caller, rule_id)
        outbox.rule_versions.append((caller.tenant_id, version))

    await run(db, hub, work)
