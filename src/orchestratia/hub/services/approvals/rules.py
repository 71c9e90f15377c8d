"""Approval rules (SPEC §8, docs/approvals.md): who may see and change which rule, and the
tenant's rule-set version that every change bumps.

Visibility follows the rule's scope: tenant rules are seen by tenant admins and by everyone with
a role in one of the tenant's projects (a user without any project sees no rule at all: every id
is 404 to them, real or not) and changed only by tenant admins; project, server and session
rules belong to a project and follow the caller's role there (other projects' rules are 404,
viewers get 403 on writes). An ``allow`` widens what agents may do unasked, so making, changing
or editing one needs the project's ``owner`` role (or a tenant admin); members may add and edit
``deny`` and ``ask`` rules. Expired session rules are no longer listed or served; the matcher
skips them by time anyway.

A change returns the tenant's new version; the action that ran it commits and then pushes
``approval_rules_updated`` to daemons (``hub.actions.approvals``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.approval_models import ApprovalRule as RuleRow
from orchestratia.hub.db.models import Membership, Project, Server, Tenant, TerminalSession
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Forbidden, Invalid, NotFound
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.projects import access, list_for
from orchestratia.hub.services.tasks.context import Caller
from orchestratia.protocol.approval_api import ApprovalRulePublic
from orchestratia.protocol.approvals import (
    ApprovalRule,
    ApprovalRuleCreate,
    ApprovalRuleUpdate,
)
from orchestratia.rules.matching import SCOPE_RANK
from orchestratia.rules.patterns import CheckedRule

NOT_FOUND = "approval rule not found"
FROM_INBOX = "scope: session rules are made from the inbox, not created or re-scoped here"


def to_wire(row: RuleRow) -> CheckedRule:
    """The rule as the daemon caches it (validated again, so a bad row fails loudly)."""
    return CheckedRule.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "pattern_syntax": row.pattern_syntax,
            "tool_pattern": row.tool_pattern,
            "param_pattern": row.param_pattern,
            "action": row.action,
            "scope": row.scope,
            "scope_id": row.scope_id,
            "agent_filter": list(row.agent_filter or []),
            "is_active": row.is_active,
            "priority": row.priority,
            "expires_at": row.expires_at,
        }
    )


def to_public(row: RuleRow) -> ApprovalRulePublic:
    return ApprovalRulePublic(
        **to_wire(row).model_dump(),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        session_id=row.session_id,
    )


def match_order(rows: Sequence[RuleRow]) -> list[RuleRow]:
    """Rows in the order the matcher tries them, so the list reads like the decision."""
    key = lambda r: (r.action != "deny", SCOPE_RANK.get(r.scope, 9), -r.priority, r.id)  # noqa: E731
    return sorted(rows, key=key)


async def version(db: AsyncSession, tenant_id: str) -> int:
    return int(
        await db.scalar(select(Tenant.approval_rules_version).where(Tenant.id == tenant_id)) or 0
    )


async def bump_version(db: AsyncSession, tenant_id: str) -> int:
    """The tenant's next rule-set version. The UPDATE also locks the tenant row (PostgreSQL)
    until commit, so concurrent changes of one tenant get distinct, ordered versions."""
    result = await db.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id)
        .values(approval_rules_version=Tenant.approval_rules_version + 1)
        .returning(Tenant.approval_rules_version)
    )
    return int(result.scalar_one())


def unexpired(now: datetime) -> ColumnElement[bool]:
    return or_(RuleRow.expires_at.is_(None), RuleRow.expires_at > now)


def _principal(caller: Caller) -> Principal:
    if caller.principal is None:
        raise Forbidden("approval rules are managed by people, not agents")
    return caller.principal


async def target_project(
    db: AsyncSession, tenant_id: str, scope: str, scope_id: str | None
) -> str | None:
    """The project a scope belongs to (None for the tenant); NotFound outside the tenant."""
    if scope == "tenant":
        return None
    model: Any = {"project": Project, "server": Server, "session": TerminalSession}[scope]
    row = await db.get(model, scope_id or "")
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"{scope} not found")
    project_id: str = row.id if scope == "project" else row.project_id
    return project_id


async def sees_tenant_rules(db: AsyncSession, principal: Principal) -> bool:
    """Whether tenant-wide rules (and who wrote them) are the caller's business: tenant admins
    and users with a role in some project of the tenant."""
    if principal.is_tenant_admin:
        return True
    membership = await db.scalar(
        select(Membership.id)
        .where(Membership.user_id == principal.user_id, Membership.tenant_id == principal.tenant_id)
        .limit(1)
    )
    return membership is not None


async def _may_change(
    db: AsyncSession, caller: Caller, scope: str, scope_id: str | None, *, allow: bool
) -> None:
    """Forbidden unless the caller may write rules there; ``allow`` (the rule is or becomes an
    allow rule) needs the project's owner role."""
    principal = _principal(caller)
    if scope == "tenant":
        if not principal.tenant_wide_admin:
            raise Forbidden("only tenant admins manage tenant-wide approval rules")
        return
    project_id = await target_project(db, caller.tenant_id, scope, scope_id)
    granted = await access(db, principal, project_id or "", write=True)
    if allow and granted.role != "owner":
        raise Forbidden(
            f"your role on this project is {granted.role}; only project owners and tenant "
            "admins make or change allow rules (deny and ask rules are yours to add)"
        )


async def list_rules(db: AsyncSession, caller: Caller) -> list[RuleRow]:
    """Every unexpired rule of the tenant the caller may see, in matching order."""
    principal = _principal(caller)
    projects = [a.project.id for a in await list_for(db, principal)]
    if not projects and not principal.is_tenant_admin:
        return []  # no project: not even the tenant's rules or their authors are theirs to see
    servers = select(Server.id).where(Server.project_id.in_(projects))
    sessions = select(TerminalSession.id).where(TerminalSession.project_id.in_(projects))
    rows = await db.scalars(
        select(RuleRow).where(
            RuleRow.tenant_id == caller.tenant_id,
            unexpired(utcnow()),
            or_(
                RuleRow.scope == "tenant",
                and_(RuleRow.scope == "project", RuleRow.scope_id.in_(projects)),
                and_(RuleRow.scope == "server", RuleRow.scope_id.in_(servers)),
                and_(RuleRow.scope == "session", RuleRow.scope_id.in_(sessions)),
            ),
        )
    )
    return match_order(rows.all())


async def load(db: AsyncSession, caller: Caller, rule_id: str) -> RuleRow:
    """A rule the caller may see; NotFound for other tenants' rules and unshared projects'."""
    principal = _principal(caller)
    row = await db.get(RuleRow, rule_id)
    if row is None or row.tenant_id != caller.tenant_id:
        raise NotFound(NOT_FOUND)
    if row.scope == "tenant" and not await sees_tenant_rules(db, principal):
        raise NotFound(NOT_FOUND)  # the same answer as for an id that does not exist
    try:
        project_id = await target_project(db, caller.tenant_id, row.scope, row.scope_id)
        if project_id is not None:
            await access(db, principal, project_id)
    except NotFound:
        raise NotFound(NOT_FOUND) from None
    return row


async def _changed(
    db: AsyncSession, caller: Caller, row: RuleRow, change: str, **details: Any
) -> int:
    new_version = await bump_version(db, caller.tenant_id)
    project_id = await target_project(db, caller.tenant_id, row.scope, row.scope_id)
    await audit.record(
        db,
        caller.actor,
        f"approval_rule.{change}",
        tenant_id=caller.tenant_id,
        project_id=project_id,
        target_type="approval_rule",
        target_id=row.id,
        details={"name": row.name, "scope": row.scope, "version": new_version, **details},
    )
    return new_version


def _apply(row: RuleRow, rule: ApprovalRule | ApprovalRuleCreate) -> None:
    row.name = rule.name
    row.pattern_syntax = rule.pattern_syntax
    row.tool_pattern = rule.tool_pattern
    row.param_pattern = rule.param_pattern
    row.action = rule.action
    row.scope = rule.scope
    # A tenant rule's scope_id is never consulted; storing NULL keeps it from meaning anything.
    row.scope_id = None if rule.scope == "tenant" else rule.scope_id
    row.agent_filter = list(rule.agent_filter or [])
    row.is_active = rule.is_active
    row.priority = rule.priority
    row.updated_at = utcnow()


async def create(db: AsyncSession, caller: Caller, body: ApprovalRuleCreate) -> tuple[RuleRow, int]:
    """Store a new rule; returns it with the tenant's new rule-set version."""
    if body.scope == "session":
        raise Invalid(FROM_INBOX)
    await _may_change(db, caller, body.scope, body.scope_id, allow=body.action == "allow")
    row = RuleRow(tenant_id=caller.tenant_id, created_by=caller.name, created_at=utcnow())
    _apply(row, body)
    db.add(row)
    await db.flush()
    new_version = await _changed(db, caller, row, "created", action=row.action)
    return row, new_version


async def update_rule(
    db: AsyncSession, caller: Caller, rule_id: str, body: ApprovalRuleUpdate
) -> tuple[RuleRow, int]:
    """Apply a partial change (the whole rule is validated again: ``pydantic.ValidationError``
    names the field); returns the rule and the new rule-set version."""
    row = await load(db, caller, rule_id)
    await _may_change(db, caller, row.scope, row.scope_id, allow=False)
    merged = body.merged(to_wire(row))
    allow = "allow" in (row.action, merged.action)
    if allow:
        await _may_change(db, caller, row.scope, row.scope_id, allow=True)
    if merged.scope != row.scope and "session" in (merged.scope, row.scope):
        raise Invalid(FROM_INBOX)
    if (merged.scope, merged.scope_id) != (row.scope, row.scope_id):
        await _may_change(db, caller, merged.scope, merged.scope_id, allow=allow)
    _apply(row, merged)
    changed = sorted(body.model_dump(exclude_unset=True))
    new_version = await _changed(db, caller, row, "updated", fields=changed)
    return row, new_version


async def delete(db: AsyncSession, caller: Caller, rule_id: str) -> int:
    """Delete a rule; returns the new rule-set version."""
    row = await load(db, caller, rule_id)
    await _may_change(db, caller, row.scope, row.scope_id, allow=False)  # deleting narrows
    new_version = await _changed(db, caller, row, "deleted")
    await db.delete(row)
    return new_version


def applicable(
    tenant_id: str,
    project_id: str | None,
    server_id: str | None,
    sessions: Any,
    now: datetime,
) -> ColumnElement[bool]:
    """Rules that can apply to a tool call there: active, unexpired, and scoped to the tenant,
    that project, that server or one of ``sessions`` (ids, or a subquery of them)."""
    return and_(
        RuleRow.tenant_id == tenant_id,
        RuleRow.is_active.is_(True),
        unexpired(now),
        or_(
            RuleRow.scope == "tenant",
            and_(RuleRow.scope == "project", RuleRow.scope_id == project_id),
            and_(RuleRow.scope == "server", RuleRow.scope_id == server_id),
            and_(RuleRow.scope == "session", RuleRow.scope_id.in_(sessions)),
        ),
    )
